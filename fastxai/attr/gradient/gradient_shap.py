"""GradientShap (Lundberg & Lee 2017): expected gradients over random baselines and random
points on the path, with optional input noise. Captum 0.9's numbers and draw order without a
seed; counter-based Philox with ``seed=``. Unlike Captum the N*n_samples rows are streamed in
memory-bounded chunks (``max_batch`` / ``max_memory``) by the engine's row plan."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.engine.baselines import baseline_distribution, shap_draws
from fastxai.engine.gradient import Sizing, check_float_inputs, iterate_gradients
from fastxai.engine.steps import RowPlan
from fastxai.engine.targets import TargetType

Tensors = Tuple[Tensor, ...]


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
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        tup = call.inputs
        check_float_inputs(tup)
        bl = baseline_distribution(baselines, inputs, "GradientShap")
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples must be an int >= 1, got {n_samples!r}")
        sds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(tup)
        if len(sds) != len(tup):
            raise InputError(f"stdevs has {len(sds)} entries for {len(tup)} inputs")
        n, k = call.n, n_samples
        noisy, bases, alpha, tgt, args = shap_draws(tup, bl, target, call.additional_args, k, sds, seed)
        rows = n * k

        def build(r0: int, r1: int) -> Tensors:
            out = []
            for x, b in zip(noisy, bases):
                a = alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1))
                bb = b[r0:r1] if b.shape[0] == rows else b
                out.append(a * x[r0:r1] + (1.0 - a) * bb)
            return tuple(out)

        plan = RowPlan(build, rows, noisy, tgt, args, tag="gshap")
        grads = [torch.empty_like(x) for x in noisy]
        for chunk in iterate_gradients(self.forward_func, plan, sizing=Sizing(None, max_batch, max_memory)):
            for g_all, g in zip(grads, chunk.grads):
                g_all[chunk.s0:chunk.s1] = g
        with torch.no_grad():
            if self._multiply_by_inputs:
                attrs = tuple((x - b) * g for x, b, g in zip(noisy, bases, grads))
            else:
                attrs = tuple(grads)
            means = tuple(a.reshape((n, k) + tuple(a.shape[1:])).sum(dim=1) * 1 / k for a in attrs)
        out = format_result(call, means)
        if return_convergence_delta:
            delta = self.compute_convergence_delta(
                attrs, tuple(b.expand_as(x) if b.shape[0] != rows else b for b, x in zip(bases, noisy)),
                noisy, tgt, args,
            )
            return out, delta
        return out

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

