"""GradientShap (Lundberg & Lee 2017): expected gradients over random baselines and random
points on the path, with optional input noise. Captum 0.9's numbers and draw order without a
seed; counter-based Philox with ``seed=``. Unlike Captum the N*n_samples rows are streamed in
memory-bounded chunks (``max_batch`` / ``max_memory``)."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple, format_additional_args, format_inputs, format_output
from fastxai._captum.targets import TargetType
from fastxai.attr._gradient.draws import STREAM_ALPHA, seeded_normal, seeded_uniform
from fastxai.attr._gradient.noise_tunnel import expand_kwargs
from fastxai.engine.gradient import check_float_inputs, iterate_gradients


def callable_baselines(baselines: Any, inputs: TensorOrTuple) -> Any:
    """Captum's ``_format_callable_baseline``: call it (with ``inputs`` if it takes arguments)."""
    if callable(baselines):
        if len(inspect.signature(baselines).parameters) == 0:
            return baselines()
        return baselines(inputs)
    return baselines


class GradientShap(GradientAttribution):
    """SHAP values approximated by expected gradients; baselines are a distribution (M, ...)."""

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: Any,
        n_samples: int = 5,
        stdevs: Union[float, Tuple[float, ...]] = 0.0,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        *,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> attributions of the same shapes; delta (N * n_samples,)."""
        tup, is_tuple = format_inputs(inputs)
        check_float_inputs(tup)
        bl = callable_baselines(baselines, inputs)
        bl_t = bl if isinstance(bl, tuple) else (bl,)
        if not isinstance(bl_t[0], Tensor):
            raise InputError(
                f"Baselines distribution has to be provided in a form of a torch.Tensor {bl_t[0]}."
            )
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples must be an int >= 1, got {n_samples!r}")
        sds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(tup)
        if len(sds) != len(tup):
            raise InputError(f"stdevs has {len(sds)} entries for {len(tup)} inputs")
        n = tup[0].shape[0]
        k = n_samples
        with torch.no_grad():
            kw = expand_kwargs(
                {"baselines": bl, "target": target, "additional_forward_args": additional_forward_args},
                tup, k, True, seed, 0,
            )
            noisy = []
            for i, (x, sd) in enumerate(zip(tup, sds)):
                if seed is None:
                    size = (n * k,) + tuple(x.shape[1:])
                    noise = torch.normal(0, torch.tensor(sd, device=x.device).repeat(size))
                else:
                    noise = seeded_normal(seed, x, k, i, float(sd))
                noisy.append(x.detach().repeat_interleave(k, dim=0) + noise)
            if seed is None:
                alpha = torch.tensor(np.random.uniform(0.0, 1.0, n * k), device=tup[0].device,
                                     dtype=tup[0].dtype)
            else:
                alpha = seeded_uniform(seed, n, k, STREAM_ALPHA, tup[0].device).reshape(-1).to(tup[0].dtype)
            bases = tuple(
                b.to(dtype=x.dtype, device=x.device) if isinstance(b, Tensor)
                else torch.full((1,) * x.dim(), float(b), dtype=x.dtype, device=x.device)
                for b, x in zip(kw["baselines"], noisy)
            )
        rows = n * k
        tgt = kw["target"]
        args = format_additional_args(kw["additional_forward_args"])

        def build(r0: int, r1: int) -> Tuple[Tuple[Tensor, ...], None]:
            with torch.no_grad():
                out = []
                for x, b in zip(noisy, bases):
                    a = alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1))
                    bb = b[r0:r1] if b.shape[0] == rows else b
                    out.append(a * x[r0:r1] + (1.0 - a) * bb)
            return tuple(out), None

        grads = [torch.empty_like(x) for x in noisy]
        for chunk in iterate_gradients(
            self.forward_func, build, rows, 1, tgt, args, tuple(noisy),
            max_batch=max_batch, max_memory=max_memory, presliced=True, mode_tag="gshap",
        ):
            for g_all, g in zip(grads, chunk.grads):
                g_all[chunk.s0:chunk.s1] = g
        with torch.no_grad():
            if self._multiply_by_inputs:
                attrs = tuple((x - b) * g for x, b, g in zip(noisy, bases, grads))
            else:
                attrs = tuple(grads)
            means = tuple(
                a.reshape((n, k) + tuple(a.shape[1:])).sum(dim=1) * 1 / k for a in attrs
            )
        out = format_output(is_tuple, means)
        if return_convergence_delta:
            delta = self.compute_convergence_delta(
                attrs, tuple(b.expand_as(x) if b.shape[0] != rows else b for b, x in zip(bases, noisy)),
                tuple(noisy), tgt, args,
            )
            return out, delta
        return out

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs
