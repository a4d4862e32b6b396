"""RISE masks generated on the device from a seed (never a host-side array of masks).

Mask p over spatial shape S (1 to 3 dims, padded to 3 with leading size-1 dims):
  * grid cell c of a g_0×g_1×g_2 grid is on when U(seed; c, p, 0, 0) < p_keep;
  * along dim d the grid is upsampled (multilinear, half-pixel centres, edge-clamped, as
    ``F.interpolate(..., align_corners=False)``) to (g_d + 1)·cell_d with cell_d = ceil(S_d / g_d),
    then cropped at offset shift_d = floor(U(seed; d, p, 0, 1) · cell_d).
All arithmetic is float32 in one fixed order, so the torch, C++ and Triton versions are
bit-identical.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from fastxai import _ext, backends
from fastxai.ops.philox import reference_philox_uniform


def pad3(spatial: Sequence[int], grid: Sequence[int]) -> Tuple[List[int], List[int]]:
    """Pad spatial shape and grid to 3 dims with leading 1s."""
    pad = 3 - len(spatial)
    if pad < 0:
        raise ValueError(f"RISE masks support 1 to 3 spatial dims, got {len(spatial)}")
    return [1] * pad + list(spatial), [1] * pad + list(grid)


def _axis_weights(size: int, g: int, shift: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per mask and position along one dim: (i0, i1, l0, l1), each (K, size)."""
    cell = math.ceil(size / g)
    up = (g + 1) * cell
    scale = torch.tensor(g, dtype=torch.float32) / torch.tensor(up, dtype=torch.float32)
    pos = torch.arange(size, device=shift.device).unsqueeze(0) + shift.unsqueeze(1)  # (K, size)
    src = (pos.to(torch.float32) + 0.5) * scale.to(shift.device) - 0.5
    src = torch.clamp(src, min=0.0)
    i0 = src.to(torch.int64)
    i1 = torch.clamp(i0 + 1, max=g - 1)
    l1 = src - i0.to(torch.float32)
    l0 = 1.0 - l1
    return i0, i1, l0, l1


def _check_args(p0: int, p1: int, spatial: Sequence[int], grid: Sequence[int], p_keep: float) -> None:
    if not 0 <= p0 <= p1:
        raise ValueError(f"rise_masks: need 0 <= p0 <= p1, got p0={p0}, p1={p1}")
    if len(spatial) != len(grid) or not 1 <= len(spatial) <= 3:
        raise ValueError(f"rise_masks: spatial {tuple(spatial)} and grid {tuple(grid)} must have 1-3 dims each")
    if any(int(s) < 1 for s in spatial) or any(int(g) < 1 for g in grid):
        raise ValueError(f"rise_masks: sizes and grid cells must be >= 1, got {tuple(spatial)} / {tuple(grid)}")
    if not math.isfinite(float(p_keep)):
        raise ValueError(f"rise_masks: p_keep must be finite, got {p_keep}")


def reference_rise_masks(
    seed: int, p0: int, p1: int, spatial: Sequence[int], grid: Sequence[int], p_keep: float,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Masks p0..p1-1 as a (K, *spatial) float32 tensor (plain torch)."""
    device = torch.device(device)
    s3, g3 = pad3(spatial, grid)
    k = p1 - p0
    pidx = torch.arange(p0, p1, device=device, dtype=torch.int64)
    ncell = g3[0] * g3[1] * g3[2]
    cells = torch.arange(ncell, device=device).unsqueeze(0)
    u = reference_philox_uniform(seed, cells, pidx.unsqueeze(1), 0, 0)
    keep = torch.tensor(p_keep, dtype=torch.float32, device=device)
    gridv = (u < keep).to(torch.float32).reshape(k, g3[0], g3[1], g3[2])
    axes = []
    for d in range(3):
        cell = math.ceil(s3[d] / g3[d])
        ushift = reference_philox_uniform(seed, torch.full((k,), d, device=device), pidx, 0, 1)
        shift = (ushift * torch.tensor(float(cell), dtype=torch.float32, device=device)).to(torch.int64)
        axes.append(_axis_weights(s3[d], g3[d], shift))
    (z0, z1, lz0, lz1), (y0, y1, ly0, ly1), (x0, x1, lx0, lx1) = axes
    kk = torch.arange(k, device=device).reshape(k, 1, 1, 1)

    def g(zi: Tensor, yi: Tensor, xi: Tensor) -> Tensor:
        return gridv[kk, zi[:, :, None, None], yi[:, None, :, None], xi[:, None, None, :]]

    lx0_, lx1_ = lx0[:, None, None, :], lx1[:, None, None, :]
    ly0_, ly1_ = ly0[:, None, :, None], ly1[:, None, :, None]
    lz0_, lz1_ = lz0[:, :, None, None], lz1[:, :, None, None]
    plane0 = ly0_ * (lx0_ * g(z0, y0, x0) + lx1_ * g(z0, y0, x1)) + ly1_ * (
        lx0_ * g(z0, y1, x0) + lx1_ * g(z0, y1, x1)
    )
    plane1 = ly0_ * (lx0_ * g(z1, y0, x0) + lx1_ * g(z1, y0, x1)) + ly1_ * (
        lx0_ * g(z1, y1, x0) + lx1_ * g(z1, y1, x1)
    )
    masks = lz0_ * plane0 + lz1_ * plane1
    return masks.reshape((k,) + tuple(spatial))


def rise_masks(
    seed: int, p0: int, p1: int, spatial: Sequence[int], grid: Sequence[int], p_keep: float,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Dispatching version of :func:`reference_rise_masks` (same contract, bit-identical)."""
    _check_args(p0, p1, spatial, grid, p_keep)
    device = torch.device(device)
    backend = backends.select("rise_masks", device)
    if backend == "torch" or p1 <= p0:
        return reference_rise_masks(seed, p0, p1, spatial, grid, p_keep, device)
    s3, g3 = pad3(spatial, grid)
    out = torch.empty((p1 - p0,) + tuple(spatial), dtype=torch.float32, device=device)
    if backend == "cpp":
        _ext.cpp().rise_masks(out.data_ptr(), seed, p0, p1 - p0, s3, g3, float(p_keep))
    else:
        from fastxai.kernels.rise_masks import rise_masks as triton_rise_masks

        triton_rise_masks(out, seed, p0, p1 - p0, s3, g3, float(p_keep))
    return out
