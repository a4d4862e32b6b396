"""Saliency and InputXGradient: one forward + one backward for all input tensors."""
from __future__ import annotations

from typing import Any, Callable, Optional

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.engine.gradient import gradients
from fastxai.engine.targets import TargetType


class Saliency(GradientAttribution):
    """|d output / d input| (Simonyan et al. 2013); raw gradients with ``abs=False``."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        abs: bool = True,
        additional_forward_args: Optional[Any] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple of them -> attributions of the same shapes."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        grads = gradients(self.forward_func, call.inputs, call.target, call.additional_args)
        return format_result(call, tuple(g.abs() if abs else g for g in grads))


class InputXGradient(GradientAttribution):
    """input * d output / d input."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple of them -> attributions of the same shapes."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        grads = gradients(self.forward_func, call.inputs, call.target, call.additional_args)
        return format_result(call, tuple(x.detach() * g for x, g in zip(call.inputs, grads)))

    @property
    def multiplies_by_inputs(self) -> bool:
        return True
