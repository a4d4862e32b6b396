"""Grad-CAM (Selvaraju et al. 2017): ``LayerGradCam`` and ``GuidedGradCam`` (Captum 0.9
signatures). Channel weights = spatial mean of the layer gradients; map = sum_c w_c A_c."""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, LayerAttribution, log_usage
from fastxai._captum.call import CallRecord, format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase
from fastxai.attr.gradient._common.relu_rules import modified_relu, require_module
from fastxai.engine.gradient import gradients, layer_gradients_and_evals
from fastxai.engine.targets import TargetType


def grad_cam_maps(forward_func: Any, layer: nn.Module, call: CallRecord, layer_input: bool,
                  relu: bool, summation: bool = True,
                  grad_kwargs: Optional[Dict[str, Any]] = None) -> Tuple[Tensor, ...]:
    """Grad-CAM maps per layer tensor: (N, 1, *S') (channels kept without ``summation``)."""
    grads, evals, _ = layer_gradients_and_evals(forward_func, layer, call.inputs, call.target,
                                                call.additional_args, layer_input, grad_kwargs)
    weights = tuple(g.mean(dim=tuple(range(2, g.dim())), keepdim=True) if g.dim() > 2 else g for g in grads)
    if summation:
        maps = tuple((w * e).sum(dim=1, keepdim=True) for w, e in zip(weights, evals))
    else:
        maps = tuple(w * e for w, e in zip(weights, evals))
    return tuple(F.relu(m) for m in maps) if relu else maps


class LayerGradCam(LayerGradientBase):
    """Grad-CAM map = sum_c w_c A_c (N, 1, *spatial), optional ReLU."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> (N, 1, H', W') (channels kept if not attr_dim_summation)."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        maps = grad_cam_maps(self.forward_func, self.layer, call, attribute_to_layer_input,
                             relu_attributions, attr_dim_summation, grad_kwargs)
        return format_result(call.replace(is_tuple=len(maps) > 1), maps)


class GuidedGradCam(GradientAttribution):
    """GuidedBackprop * upsampled ReLU(Grad-CAM) (Selvaraju et al. 2017)."""

    def __init__(self, model: nn.Module, layer: nn.Module, device_ids: Optional[list] = None) -> None:
        require_module(model, "GuidedGradCam")
        super().__init__(model)
        self.model = model
        self.layer = layer
        self.device_ids = device_ids
        self.grad_cam = LayerGradCam(model, layer, device_ids)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        interpolate_mode: str = "nearest",
        attribute_to_layer_input: bool = False,
    ) -> TensorOrTuple:
        """inputs (N, C, H, W) or a tuple -> attributions of the same shapes."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        cams = grad_cam_maps(self.model, self.layer, call, attribute_to_layer_input, relu=True)
        if len(cams) != 1:
            raise InputError("GuidedGradCAM attributions for layer with multiple inputs / outputs is not supported.")
        with modified_relu(self.model, "guided"):
            gbp = gradients(self.model, call.inputs, call.target, call.additional_args)
        out = []
        for g, x in zip(gbp, call.inputs):
            try:
                out.append(g * LayerAttribution.interpolate(cams[0], tuple(x.shape[2:]), interpolate_mode))
            except Exception:
                warnings.warn(
                    "Couldn't appropriately interpolate GradCAM attributions for some input tensors, "
                    "returning empty tensor for corresponding attributions.",
                    stacklevel=2,
                )
                out.append(torch.empty(0))
        return format_result(call, out)
