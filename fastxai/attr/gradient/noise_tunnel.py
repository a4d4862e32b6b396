"""NoiseTunnel: SmoothGrad / SmoothGrad-squared / VarGrad around any fastxai attribution.

Same call flow and random-draw order as Captum 0.9 (so ``torch.manual_seed`` /
``np.random.seed`` give Captum's numbers); ``seed=int`` switches to counter-based Philox noise.
The wrapped method does its own chunking (e.g. IntegratedGradients streams its N*nt*S rows).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import Attribution, GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.engine.baselines import expand_kwargs
from fastxai.engine.draws import seeded_normal

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _stdevs(stdevs: Union[float, Tuple[float, ...]], n_inputs: int) -> Tuple[float, ...]:
    """One standard deviation per input tensor (Captum's checks and messages)."""
    if isinstance(stdevs, tuple):
        if len(stdevs) != n_inputs:
            raise InputError(
                f"The number of input tensors in {n_inputs} must be equal to the number of "
                f"stdevs values {len(stdevs)}"
            )
        return stdevs
    if not isinstance(stdevs, float):
        raise InputError(f"stdevs must be type float. Given: {type(stdevs)}")
    return (stdevs,) * n_inputs


def _reduce(nt_type: str, sums: List[Tensor], sums_sq: List[Tensor], n: int) -> List[Tensor]:
    """SmoothGrad (mean), SmoothGrad-squared (mean of squares) or VarGrad (their variance)."""
    mean = [s * 1 / n for s in sums]
    mean_sq = [s * 1 / n for s in sums_sq]
    if nt_type == "smoothgrad":
        return mean
    if nt_type == "smoothgrad_sq":
        return mean_sq
    return [m2 - m * m for m, m2 in zip(mean, mean_sq)]


class NoiseTunnel(Attribution):
    """Averages attributions over Gaussian-noised copies of the inputs.

    ``attribute(inputs, nt_type, nt_samples, nt_samples_batch_size, stdevs,
    draw_baseline_from_distrib, seed=None, **kwargs)``; kwargs go to the wrapped method.
    """

    def __init__(self, attribution_method: Attribution) -> None:
        self.attribution_method = attribution_method
        self.is_delta_supported = attribution_method.has_convergence_delta()
        self._multiply_by_inputs = attribution_method.multiplies_by_inputs
        self.is_gradient_method = isinstance(attribution_method, GradientAttribution)
        super().__init__(attribution_method.forward_func)

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return self.is_delta_supported

    def _noisy(self, inputs: Tuple[Tensor, ...], n: int, stdevs: Tuple[float, ...],
               seed: Optional[int], sample0: int) -> Tuple[Tensor, ...]:
        out = []
        for i, (x, sd) in enumerate(zip(inputs, stdevs)):
            if seed is None:
                size = (x.shape[0] * n,) + tuple(x.shape[1:])
                noise = torch.normal(0, torch.tensor(sd, device=x.device).repeat(size))
            else:
                noise = seeded_normal(seed, x, n, i, sd, sample0)
            noisy = x.repeat_interleave(n, dim=0) + noise
            out.append(noisy.requires_grad_() if self.is_gradient_method else noisy)
        return tuple(out)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: Optional[int] = None,
        stdevs: Union[float, Tuple[float, ...]] = 1.0,
        draw_baseline_from_distrib: bool = False,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> attributions shaped as the wrapped method's; with
        ``return_convergence_delta`` also the deltas (N * nt_samples,), example-major per batch."""
        if nt_type not in NT_TYPES:
            raise InputError(f"nt_type must be one of {NT_TYPES}, got {nt_type!r}")
        if not isinstance(nt_samples, int) or nt_samples < 1:
            raise InputError(f"nt_samples must be an int >= 1, got {nt_samples!r}")
        want_delta = bool(kwargs.get("return_convergence_delta", False))
        call = normalize_call(inputs, additional_forward_args=kwargs.get("additional_forward_args"))
        tup, is_tuple = call.inputs, call.is_tuple
        if "additional_forward_args" in kwargs:
            kwargs = {**kwargs, "additional_forward_args": call.additional_args}
        sds = _stdevs(stdevs, len(tup))
        bs = nt_samples if nt_samples_batch_size is None else min(nt_samples, nt_samples_batch_size)
        parts = [bs] * (nt_samples // bs)
        if nt_samples % bs:
            parts.append(nt_samples % bs)
        sums: List[Tensor] = []
        sums_sq: List[Tensor] = []
        deltas: List[Tensor] = []
        attr_is_tuple = is_tuple
        method = self.attribution_method
        done = 0
        with torch.no_grad():
            kw_full = expand_kwargs(kwargs, tup, bs, draw_baseline_from_distrib, seed, 0)
            for k in parts:
                if seed is not None and draw_baseline_from_distrib:
                    kw_full = expand_kwargs(kwargs, tup, k, True, seed, done)
                noisy = self._noisy(tup, k, sds, seed, done)
                if k != bs and seed is None:
                    kw_full = expand_kwargs(kwargs, tup, k, draw_baseline_from_distrib)
                elif k != bs:
                    kw_full = expand_kwargs(kwargs, tup, k, draw_baseline_from_distrib, seed, done)
                with torch.enable_grad():
                    res = method.attribute.__wrapped__(method, noisy if is_tuple else noisy[0], **kw_full)
                if self.is_delta_supported and want_delta:
                    res, d = res
                    deltas.append(d)
                attr_is_tuple = isinstance(res, tuple)
                res_t = res if attr_is_tuple else (res,)
                for i, a in enumerate(res_t):
                    a = a.detach()
                    v = a.reshape((a.shape[0] // k, k) + tuple(a.shape[1:]))
                    s1, s2 = v.sum(dim=1), (v * v).sum(dim=1)
                    if len(sums) <= i:
                        sums.append(s1)
                        sums_sq.append(s2)
                    else:
                        sums[i] = sums[i] + s1
                        sums_sq[i] = sums_sq[i] + s2
                done += k
            attrs = _reduce(nt_type, sums, sums_sq, nt_samples)
        out = format_result(call.replace(is_tuple=attr_is_tuple), attrs)
        if self.is_delta_supported and want_delta:
            return out, torch.cat(deltas, dim=0)
        return out
