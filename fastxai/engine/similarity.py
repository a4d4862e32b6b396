"""Sample weights of the surrogate fits: Lime's exponential kernel and KernelSHAP's weights.

Both work on whole coalition tensors z (B, S, M) at once: the exponential kernel from
per-feature sums of the inputs and baselines (the exact distance without building the
perturbed inputs), the Shapley kernel from coalition sizes.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
from torch import Tensor

from fastxai.engine.ordered import fixed_order_sum

SUMS = ("xx", "xb", "bb", "dd")


def feature_sums(inputs: Tuple[Tensor, ...], baselines: Tuple[Tensor, ...], masks: Tuple[Tensor, ...],
                 m: int, b: int) -> Dict[str, Tensor]:
    """Per problem and feature: sums of x·x, x·b, b·b and (x − b)² over the feature's
    elements, each (B, M) float64 (B = N, or 1 summing over the batch), in float32-rounded
    values as Captum's kernel computes its distances. ``baselines``: tensors broadcastable
    to the inputs."""
    n = inputs[0].shape[0]
    dev = inputs[0].device
    out = {k: torch.zeros(n, m, dtype=torch.float64, device=dev) for k in SUMS}
    for x, bb, mk in zip(inputs, baselines, masks):
        xf = x.to(torch.float32).to(torch.float64).reshape(n, -1)
        bt = torch.broadcast_to(bb, x.shape).to(torch.float32).to(torch.float64).reshape(n, -1)
        idx = torch.broadcast_to(mk, x.shape).reshape(n, -1)
        for k, v in (("xx", xf * xf), ("xb", xf * bt), ("bb", bt * bt), ("dd", (xf - bt) ** 2)):
            out[k].scatter_add_(1, idx, v)
    if b == 1 and n > 1:
        out = {k: fixed_order_sum(v, 0)[None] for k, v in out.items()}
    return out


class ExpKernel:
    """``exp(-d² / (2 width²))`` on the cosine or euclidean distance between the flattened
    original and perturbed inputs (Captum's ``get_exp_kernel_similarity_function``).
    Called Captum's way on one sample, or batched by :meth:`batched`."""

    def __init__(self, distance_mode: str = "cosine", kernel_width: float = 1.0) -> None:
        if distance_mode not in ("cosine", "euclidean"):
            raise ValueError("distance_mode must be either cosine or euclidean.")
        self.distance_mode = distance_mode
        self.kernel_width = kernel_width

    def __call__(self, original_inp: Any, perturbed_inp: Any, _: Any, **kwargs: Any) -> float:
        a = torch.cat([t.flatten() for t in _tup(original_inp)]).float()
        b = torch.cat([t.flatten() for t in _tup(perturbed_inp)]).float()
        if self.distance_mode == "cosine":
            d = 1 - torch.nn.functional.cosine_similarity(a, b, dim=0)
        else:
            d = torch.norm(a - b)
        return math.exp(-1 * (d ** 2) / (2 * (self.kernel_width ** 2)))

    def batched(self, sums: Dict[str, Tensor], z: Tensor) -> Tensor:
        """Similarities (B, S) for coalitions z (B, S, M) from :func:`feature_sums`."""
        zf = z.to(torch.float64)
        off = 1.0 - zf
        if self.distance_mode == "cosine":
            dot = zf @ sums["xx"][..., None] + off @ sums["xb"][..., None]
            vv = zf @ sums["xx"][..., None] + off @ sums["bb"][..., None]
            nx = fixed_order_sum(sums["xx"], -1)[:, None, None].sqrt()
            cos = dot / (nx * vv.clamp_min(0).sqrt()).clamp_min(1e-8)
            d = 1 - cos.squeeze(-1)
        else:
            d = (off @ sums["dd"][..., None]).squeeze(-1).clamp_min(0).sqrt()
        return torch.exp(-(d ** 2) / (2 * self.kernel_width ** 2))


def _tup(x: Any) -> Tuple[Tensor, ...]:
    return x if isinstance(x, tuple) else (x,)


def get_exp_kernel_similarity_function(distance_mode: str = "cosine", kernel_width: float = 1.0) -> ExpKernel:
    """Captum's exponential-kernel similarity (recognised by Lime's batched path)."""
    return ExpKernel(distance_mode, kernel_width)


def shapley_kernel_weights(z: Tensor, inf_weight: float) -> Tensor:
    """KernelSHAP's weights as Captum sets them, (B, S) float64 for z (B, S, M): ``inf_weight``
    for the all-on and all-off coalitions, 1 for the rest (the Shapley kernel is in the
    coalition-size distribution)."""
    cnt = z.sum(-1)
    big = (cnt == 0) | (cnt == z.shape[-1])
    return torch.where(big, inf_weight, 1.0).to(torch.float64)
