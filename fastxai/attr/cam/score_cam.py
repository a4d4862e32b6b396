"""Score-CAM (Wang et al. 2020), gradient-free: masks H_k = minmax(upsample(A_k)) (0 for a
constant channel), scores s_k = f(X * H_k)[target], w = softmax_k(s), map = sum_k w_k A_k. The
C masked forwards per example run through the perturbation engine (batched, chunked,
``max_batch`` / ``max_memory``); masks are built per chunk, so C x N x H x W never exists at once.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.cam._common import combine, single
from fastxai.engine.gradient import layer_eval
from fastxai.engine.perturb import EngineOptions, initial_outputs, run_perturbations
from fastxai.engine.targets import TargetType


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
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        tup, args = call.inputs, call.additional_args
        acts, _ = layer_eval(self.forward_func, self.layer, tup, args, attribute_to_layer_input)
        a = single(acts, "ScoreCAM")
        x = tup[0]
        size = tuple(x.shape[2:])
        if len(size) != a.dim() - 2:
            raise InputError(
                f"ScoreCAM: input 0 has {len(size)} spatial dims but the layer output has {a.dim() - 2}"
            )
        mode = interpolate_mode or {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
        tsel = call.target
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
        return combine(w, a, relu_attributions)
