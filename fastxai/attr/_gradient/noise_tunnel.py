"""NoiseTunnel: SmoothGrad / SmoothGrad-squared / VarGrad around any fastxai attribution.

Same call flow and random-draw order as Captum 0.9 (so ``torch.manual_seed`` /
``np.random.seed`` give Captum's numbers); ``seed=int`` switches to counter-based Philox noise.
The wrapped method does its own chunking (e.g. IntegratedGradients streams its N*nt*S rows).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from fastxai._captum.attribution import Attribution, GradientAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import (
    TensorOrTuple,
    expand_additional_args,
    format_additional_args,
    format_inputs,
    format_output,
)
from fastxai._captum.targets import expand_target
from fastxai.attr._gradient.draws import STREAM_BASELINE, seeded_normal, seeded_uniform

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def expand_kwargs(
    kwargs: Dict[str, Any], inputs: Tuple[Tensor, ...], n: int, from_distrib: bool,
    seed: Optional[int] = None, sample0: int = 0,
) -> Dict[str, Any]:
    """Captum's ``_expand_partial``: targets, tensor args, baselines and feature masks
    repeated ``n`` times example-major (baselines drawn per row when ``from_distrib``)."""
    out = dict(kwargs)
    if "additional_forward_args" in out:
        a = format_additional_args(out["additional_forward_args"])
        if a is not None:
            out["additional_forward_args"] = expand_additional_args(a, n, interleave=True)
    if "target" in out:
        out["target"] = expand_target(out["target"], n, interleave=True)
    if "baselines" in out:
        bl = format_baselines_distrib(out["baselines"], inputs, from_distrib)
        bsz = inputs[0].shape[0]
        if from_distrib:
            new = []
            idx_shared = None
            for b in bl:
                if not isinstance(b, Tensor):
                    new.append(b)
                    continue
                if seed is None:
                    idx = np.random.choice(b.shape[0], n * bsz).tolist()
                else:
                    if idx_shared is None:
                        u = seeded_uniform(seed, bsz, n, STREAM_BASELINE, b.device, sample0)
                        idx_shared = (u * b.shape[0]).long().clamp_max(b.shape[0] - 1).reshape(-1)
                    idx = idx_shared
                new.append(b[idx])
            out["baselines"] = tuple(new)
        else:
            out["baselines"] = tuple(
                b.repeat_interleave(n, dim=0)
                if isinstance(b, Tensor) and b.shape[0] == x.shape[0] and b.shape[0] > 1 else b
                for x, b in zip(inputs, bl)
            )
    if "feature_mask" in out and out["feature_mask"] is not None:
        fm = out["feature_mask"]
        fm_t = fm if isinstance(fm, tuple) else (fm,)
        fm_t = tuple(m.repeat_interleave(n, dim=0) if m.size(0) > 1 else m for m in fm_t)
        out["feature_mask"] = fm_t if isinstance(fm, tuple) else fm_t[0]
    return out


def format_baselines_distrib(baselines: Any, inputs: Tuple[Tensor, ...], from_distrib: bool) -> Tuple[Any, ...]:
    """Baselines as a tuple; with ``from_distrib`` any first dim is allowed (a distribution)."""
    if baselines is None:
        return tuple(0 for _ in inputs)
    tup = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(tup) != len(inputs):
        raise InputError(
            f"baselines must have one entry per input tensor: got {len(tup)} for {len(inputs)} inputs"
        )
    for i, (b, x) in enumerate(zip(tup, inputs)):
        if isinstance(b, Tensor) and b.dim() > 0 and b.numel() > 1:
            if tuple(b.shape[1:]) != tuple(x.shape[1:]):
                raise InputError(
                    f"baselines[{i}] has shape {tuple(b.shape)} but input {i} has shape "
                    f"{tuple(x.shape)}: the dims after the first must match"
                )
            if not from_distrib and b.shape[0] not in (1, x.shape[0]):
                raise InputError(
                    f"baselines[{i}] has {b.shape[0]} rows; expected 1 or {x.shape[0]} "
                    "(or set draw_baseline_from_distrib=True)"
                )
    return tup


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
        tup, is_tuple = format_inputs(inputs)
        if isinstance(stdevs, tuple):
            if len(stdevs) != len(tup):
                raise InputError(
                    f"The number of input tensors in {len(tup)} must be equal to the number of "
                    f"stdevs values {len(stdevs)}"
                )
            sds = stdevs
        else:
            if not isinstance(stdevs, float):
                raise InputError(f"stdevs must be type float. Given: {type(stdevs)}")
            sds = (stdevs,) * len(tup)
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
            mean = [s * 1 / nt_samples for s in sums]
            mean_sq = [s * 1 / nt_samples for s in sums_sq]
            if nt_type == "smoothgrad":
                attrs = mean
            elif nt_type == "smoothgrad_sq":
                attrs = mean_sq
            else:
                attrs = [m2 - m * m for m, m2 in zip(mean, mean_sq)]
        out = format_output(attr_is_tuple, attrs)
        if self.is_delta_supported and want_delta:
            return out, torch.cat(deltas, dim=0)
        return out
