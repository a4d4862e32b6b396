"""Saliency and InputXGradient: one forward + one backward for all input tensors."""
from __future__ import annotations

from typing import Any, Callable, Optional

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.inputs import TensorOrTuple, format_additional_args, format_inputs, format_output
from fastxai._captum.targets import TargetType
from fastxai.engine.gradient import gradients


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
        tup, is_tuple = format_inputs(inputs)
        grads = gradients(self.forward_func, tup, target, format_additional_args(additional_forward_args))
        out = tuple(g.abs() if abs else g for g in grads)
        return format_output(is_tuple, out)


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
        tup, is_tuple = format_inputs(inputs)
        grads = gradients(self.forward_func, tup, target, format_additional_args(additional_forward_args))
        return format_output(is_tuple, tuple(x.detach() * g for x, g in zip(tup, grads)))

    @property
    def multiplies_by_inputs(self) -> bool:
        return True
