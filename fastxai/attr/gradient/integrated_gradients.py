"""Integrated Gradients (Sundararajan et al. 2017), Captum 0.9 semantics, streamed.

attr = (x - b) * sum_s w_s * grad f(b + alpha_s (x - b)): the engine's path plan and
:func:`~fastxai.engine.paths.integrate_path` (fused ``fastxai.ops.ig_path`` kernels, chunks of
whole steps, so the S*N step rows never exist at once).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

from torch import Tensor

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.engine.gradient import Sizing, check_float_inputs
from fastxai.engine.paths import check_steps, integrate_path
from fastxai.engine.targets import TargetType


class IntegratedGradients(GradientAttribution):
    """Integrated Gradients with Captum's signature; ``max_batch`` / ``max_memory`` (bytes)
    bound the rows per forward+backward when ``internal_batch_size`` is None."""

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) or a tuple -> attributions of the same shapes (float16 / bfloat16
        inputs give float32, as Captum); delta (N,)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        check_steps(n_steps, method)
        total = integrate_path(
            self.forward_func, call.inputs, call.baselines, call.target, call.additional_args,
            n_steps, method, Sizing(internal_batch_size, max_batch, max_memory),
        )
        if self._multiply_by_inputs:
            attrs = tuple(t * (x.detach() - b) for t, x, b in zip(total, call.inputs, call.baselines))
        else:
            attrs = total
        out = format_result(call, attrs)
        if return_convergence_delta:
            delta = self.compute_convergence_delta(attrs, call.baselines, call.inputs, target,
                                                   additional_forward_args)
            return out, delta
        return out

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs
