"""GuidedBackprop (Springenberg et al. 2014) and Deconvolution (Zeiler & Fergus 2014): the
backward pass through every ``nn.ReLU`` module is replaced (guided: ReLU of the ReLU's input
gradient; deconvolution: ReLU of its output gradient). Functional relus are untouched, as in
Captum. One forward + one backward; the hooks are removed afterwards."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple, format_additional_args, format_inputs, format_output
from fastxai._captum.targets import TargetType
from fastxai.engine.gradient import gradients
from fastxai.engine.hooks import override_backward


def _guided_rule(module: nn.Module, x: Tensor, y: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    pos = x > 0
    return lambda g, plain: torch.relu(torch.where(pos, g, torch.zeros_like(g)))


def _deconv_rule(module: nn.Module, x: Tensor, y: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda g, plain: torch.relu(plain)


class _ModifiedRelu(GradientAttribution):
    _rule = staticmethod(_guided_rule)

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"{type(self).__name__} needs an nn.Module model, got {type(model).__name__}")
        super().__init__(model)
        self.model = model

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes."""
        tup, is_tuple = format_inputs(inputs)
        relus = [m for m in self.model.modules() if isinstance(m, nn.ReLU)]
        with override_backward(relus, type(self)._rule):
            grads = gradients(self.forward_func, tup, target, format_additional_args(additional_forward_args))
        return format_output(is_tuple, grads)


class GuidedBackprop(_ModifiedRelu):
    """Gradients with negative signals zeroed at every ReLU on the way back."""

    _rule = staticmethod(_guided_rule)


class Deconvolution(_ModifiedRelu):
    """Gradients passed backwards through ReLUs as ReLU(gradient)."""

    _rule = staticmethod(_deconv_rule)
