"""Class-activation maps beyond Captum: GradCAMPlusPlus, XGradCAM, EigenCAM (ScoreCAM: see
:mod:`fastxai.attr.cam.score_cam`).

Each is a small weighting rule over a layer's activations A (N, C, *S) — 2-D or 3-D (Conv3d
volumes) — and, for the gradient CAMs, the gradients G = d score / d A. Maps are returned raw
(not min-max scaled, not resized): (N, 1, *S), with the published final ReLU unless
``relu_attributions=False``. Use ``LayerAttribution.interpolate`` to upsample.

* Grad-CAM++ (Chattopadhay et al. 2018): alpha = G^2 / (2 G^2 + sum_S(A) G^3) (0 where the
  denominator is 0), w_c = sum_S alpha * relu(G).
* XGrad-CAM (Fu et al. 2020): w_c = sum_S (A / sum_S A) * G (0 where sum_S A = 0).
* Eigen-CAM (Muhammad & Yeasin 2020): projection of the mean-centred (S, C) activation matrix
  on its first right singular vector; the sign is fixed so the map correlates positively with
  the channel-summed activation (SVD sign is otherwise arbitrary). No gradients, no target.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.cam._common import combine, single
from fastxai.attr.layer._common import LayerGradientBase
from fastxai.engine.gradient import layer_eval, layer_gradients_and_evals
from fastxai.engine.targets import TargetType


def gradcam_plus_plus_weights(acts: Tensor, grads: Tensor) -> Tensor:
    """(N, C) Grad-CAM++ channel weights from A and G (N, C, *S)."""
    dims = tuple(range(2, acts.dim()))
    g2, g3 = grads.pow(2), grads.pow(3)
    denom = 2 * g2 + acts.sum(dim=dims, keepdim=True) * g3
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                        torch.zeros_like(denom))
    return (alpha * F.relu(grads)).sum(dim=dims)


def xgradcam_weights(acts: Tensor, grads: Tensor) -> Tensor:
    """(N, C) XGrad-CAM channel weights."""
    dims = tuple(range(2, acts.dim()))
    s = acts.sum(dim=dims, keepdim=True)
    norm = torch.where(s != 0, acts / torch.where(s != 0, s, torch.ones_like(s)), torch.zeros_like(acts))
    return (norm * grads).sum(dim=dims)


def eigencam_maps(acts: Tensor) -> Tensor:
    """(N, 1, *S) first-principal-component projections of A (N, C, *S)."""
    n, c = acts.shape[:2]
    m = acts.reshape(n, c, -1).transpose(1, 2)  # (N, S, C)
    m = m - m.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(m, full_matrices=False)
    proj = m @ vh[:, 0, :].unsqueeze(-1)  # (N, S, 1)
    ref = acts.reshape(n, c, -1).sum(1)
    ref = ref - ref.mean(dim=1, keepdim=True)
    sign = torch.sign((proj.squeeze(-1) * ref).sum(dim=1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return (proj.squeeze(-1) * sign.unsqueeze(1)).reshape((n, 1) + tuple(acts.shape[2:]))


class _GradientCAM(LayerGradientBase):
    _weights: Callable[[Tensor, Tensor], Tensor]

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = True,
    ) -> Tensor:
        """inputs (N, ...) -> raw map (N, 1, *S) at the layer's resolution."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        grads, acts, _ = layer_gradients_and_evals(
            self.forward_func, self.layer, call.inputs, call.target, call.additional_args,
            attribute_to_layer_input,
        )
        name = type(self).__name__
        a, g = single(acts, name), single(grads, name)
        return combine(type(self)._weights(a, g), a, relu_attributions)


class GradCAMPlusPlus(_GradientCAM):
    """Grad-CAM++: positive gradients weighted per location (better for several instances)."""

    _weights = staticmethod(gradcam_plus_plus_weights)


class XGradCAM(_GradientCAM):
    """XGrad-CAM: gradients weighted by the normalised activations (axiom-based)."""

    _weights = staticmethod(xgradcam_weights)


class EigenCAM(LayerAttribution):
    """Eigen-CAM: the first principal component of the layer's activations (class-agnostic)."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
    ) -> Tensor:
        """inputs (N, ...) -> (N, 1, *S); ``target`` is accepted and ignored."""
        call = normalize_call(inputs, additional_forward_args=additional_forward_args)
        acts, _ = layer_eval(self.forward_func, self.layer, call.inputs, call.additional_args,
                             attribute_to_layer_input)
        cam = eigencam_maps(single(acts, "EigenCAM"))
        return F.relu(cam) if relu_attributions else cam
