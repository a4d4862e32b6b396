"""GuidedBackprop (Springenberg et al. 2014) and Deconvolution (Zeiler & Fergus 2014): input
gradients with every ``nn.ReLU`` module's backward replaced
(:mod:`fastxai.attr.gradient._common.relu_rules`). One forward + one backward; the hooks are
removed afterwards. Both derive from ``ModifiedReluGradientAttribution``, as in Captum."""
from __future__ import annotations

from typing import Any, Optional

from torch import nn

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.gradient._common.relu_rules import modified_relu, require_module
from fastxai.engine.gradient import gradients
from fastxai.engine.targets import TargetType


class ModifiedReluGradientAttribution(GradientAttribution):
    """Captum's base of GuidedBackprop and Deconvolution: ``use_relu_grad_output`` picks the
    deconvolution rule (ReLU of the output gradient) over the guided one."""

    def __init__(self, model: nn.Module, use_relu_grad_output: bool = False) -> None:
        require_module(model, type(self).__name__)
        super().__init__(model)
        self.model = model
        self.use_relu_grad_output = use_relu_grad_output

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        with modified_relu(self.model, "deconv" if self.use_relu_grad_output else "guided"):
            grads = gradients(self.forward_func, call.inputs, call.target, call.additional_args)
        return format_result(call, grads)


class GuidedBackprop(ModifiedReluGradientAttribution):
    """Gradients with negative signals zeroed at every ReLU on the way back."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, use_relu_grad_output=False)


class Deconvolution(ModifiedReluGradientAttribution):
    """Gradients passed backwards through ReLUs as ReLU(gradient)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, use_relu_grad_output=True)
