"""Class-activation maps beyond Captum: GradCAMPlusPlus, XGradCAM, EigenCAM, ScoreCAM.

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
* Score-CAM (Wang et al. 2020): masks H_k = minmax(upsample(A_k)) (0 for a constant channel),
  scores s_k = f(X * H_k)[target], w = softmax_k(s), map = sum_k w_k A_k. The C masked forwards
  per example run through the perturbation engine (batched, chunked, ``max_batch`` /
  ``max_memory``); masks are built per chunk, so C x N x H x W never exists at once.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, LayerAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple, format_additional_args, format_inputs
from fastxai._captum.targets import TargetSelector, TargetType
from fastxai.engine.gradient import layer_eval, layer_gradients_and_evals
from fastxai.engine.perturb import EngineOptions, initial_outputs, run_perturbations


def _single(tensors: Tuple[Tensor, ...], name: str) -> Tensor:
    if len(tensors) != 1:
        raise InputError(f"{name} needs a layer with one output tensor, got {len(tensors)}")
    a = tensors[0]
    if a.dim() < 3:
        raise InputError(f"{name} needs a layer output (N, C, *spatial), got shape {tuple(a.shape)}")
    return a


def _combine(weights: Tensor, acts: Tensor, relu: bool) -> Tensor:
    w = weights.reshape(weights.shape[:2] + (1,) * (acts.dim() - 2))
    cam = (w * acts).sum(dim=1, keepdim=True)
    return F.relu(cam) if relu else cam


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


class _GradientCAM(LayerAttribution, GradientAttribution):
    _weights: Callable[[Tensor, Tensor], Tensor]

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)

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
        tup, _ = format_inputs(inputs)
        grads, acts, _ = layer_gradients_and_evals(
            self.forward_func, self.layer, tup, target, format_additional_args(additional_forward_args),
            attribute_to_layer_input,
        )
        name = type(self).__name__
        a, g = _single(acts, name), _single(grads, name)
        return _combine(type(self)._weights(a, g), a, relu_attributions)


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
        tup, _ = format_inputs(inputs)
        acts, _ = layer_eval(self.forward_func, self.layer, tup, format_additional_args(additional_forward_args),
                             attribute_to_layer_input)
        cam = eigencam_maps(_single(acts, "EigenCAM"))
        return F.relu(cam) if relu_attributions else cam


class _MaskPlan:
    """Perturbation p = channel p: inputs[0] * H_p (upsampled, min-max scaled channel p)."""

    def __init__(self, acts: Tensor, size: Tuple[int, ...], mode: str) -> None:
        self.acts = acts
        self.size = size
        self.mode = mode
        self.n_perturbations = acts.shape[1]

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        x = inputs[0]
        a = self.acts[:, p0:p1]
        up = F.interpolate(a, size=self.size, mode=self.mode,
                           **({} if self.mode in ("nearest", "area") else {"align_corners": False}))
        flat = up.reshape(up.shape[0], up.shape[1], -1)
        lo, hi = flat.min(dim=2, keepdim=True).values, flat.max(dim=2, keepdim=True).values
        rng = hi - lo
        masks = torch.where(rng > 0, (flat - lo) / torch.where(rng > 0, rng, torch.ones_like(rng)),
                            torch.zeros_like(flat)).reshape(up.shape)
        # perturbation-major rows: (p - p0) * N + n
        masked = x.unsqueeze(0) * masks.transpose(0, 1).unsqueeze(2).to(x.dtype)
        rows = masked.reshape((-1,) + tuple(x.shape[1:]))
        return (rows,) + tuple(torch.cat([t] * (p1 - p0)) for t in inputs[1:])


class _Scores:
    deferred = True

    def __init__(self, n: int, c: int, like: Tensor) -> None:
        self.scores = torch.zeros(n, c, dtype=like.dtype, device=like.device)

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        self.scores[:, p0:p1] = outputs.reshape(p1 - p0, -1).t().to(self.scores.dtype)


class ScoreCAM(LayerAttribution):
    """Score-CAM: channels weighted by the softmax of the model's target score on the input
    masked by each (upsampled, normalised) channel. Gradient-free."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = True,
        interpolate_mode: Optional[str] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        show_progress: bool = False,
    ) -> Tensor:
        """inputs (N, C, *S_in) (first tensor is masked) -> (N, 1, *S) at the layer resolution."""
        tup, _ = format_inputs(inputs)
        args = format_additional_args(additional_forward_args)
        acts, _ = layer_eval(self.forward_func, self.layer, tup, args, attribute_to_layer_input)
        a = _single(acts, "ScoreCAM")
        x = tup[0]
        size = tuple(x.shape[2:])
        if len(size) != a.dim() - 2:
            raise InputError(
                f"ScoreCAM: input 0 has {len(size)} spatial dims but the layer output has {a.dim() - 2}"
            )
        mode = interpolate_mode or {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
        tsel = TargetSelector(target)
        init = initial_outputs(self.forward_func, tup, tsel, args)
        if init.reshape(-1).numel() != x.shape[0]:
            raise InputError("ScoreCAM needs one target score per example: pass `target`")
        acc = _Scores(x.shape[0], a.shape[1], a)
        run_perturbations(
            _MaskPlan(a, size, mode), acc, self.forward_func, tuple(t.detach() for t in tup), tsel, args, init,
            EngineOptions(max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
                          desc="ScoreCAM"),
        )
        w = torch.softmax(acc.scores, dim=1)
        return _combine(w, a, relu_attributions)
