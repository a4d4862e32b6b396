"""Trivial baseline "explanations" every method must beat (always part of a bench run).

* ``baseline:centre``: an isotropic Gaussian at the image centre, SD = a quarter of the shorter
  side (the same map for every image: a centre prior).
* ``baseline:random``: uniform [0, 1) noise, seeded per sample (``seed`` and the sample id), so
  a sample's map does not depend on batching or ranks.
* ``baseline:edges``: Sobel gradient magnitude of the channel-mean image (replicate padding).
All return (N, H, W) float32 maps for (N, C, H, W) images.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor


def centre_prior(x: Tensor, sample_ids: List[str], seed: int = 0) -> Tensor:
    """(N, C, H, W) -> (N, H, W) Gaussian centre prior."""
    n, _, h, w = x.shape
    sd = min(h, w) / 4.0
    ys = torch.arange(h, dtype=torch.float32) + 0.5 - h / 2.0
    xs = torch.arange(w, dtype=torch.float32) + 0.5 - w / 2.0
    g = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sd * sd))
    return g.expand(n, h, w).contiguous().to(x.device)


def _sample_seed(seed: int, sample_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "little") & (2**63 - 1)


def uniform_random(x: Tensor, sample_ids: List[str], seed: int = 0) -> Tensor:
    """(N, C, H, W) -> (N, H, W) uniform noise, one generator per sample id."""
    n, _, h, w = x.shape
    maps = [torch.rand((h, w), generator=torch.Generator().manual_seed(_sample_seed(seed, s))) for s in sample_ids]
    return torch.stack(maps).to(x.device) if maps else torch.empty(0, h, w, device=x.device)


def sobel_edges(x: Tensor, sample_ids: List[str], seed: int = 0) -> Tensor:
    """(N, C, H, W) -> (N, H, W) Sobel gradient magnitude of the channel mean."""
    g = x.float().mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
    k = torch.stack([kx, kx.t()])[:, None]
    d = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k)
    return d.pow(2).sum(1).sqrt()


BASELINES: Dict[str, Callable[[Tensor, List[str], int], Tensor]] = {
    "baseline:centre": centre_prior,
    "baseline:random": uniform_random,
    "baseline:edges": sobel_edges,
}
