"""Fused per-heat-map reductions used by the localisation metrics.

For each map ``n`` (heat map ``h[n]`` flattened to P pixels, mask ``m[n]``) one pass gives
the columns of ``STATS``:

======== ==============================================================
max      maximum value
argmax   first (lowest flat index) position of the maximum
hit      1 if any pixel tied for the maximum lies in the mask, else 0
sum      Σ h
sum_pos  Σ max(h, 0)
sum_in   Σ h·m
pos_in   Σ max(h, 0)·m
count    Σ m (mask pixel count)
nonfinite number of NaN/Inf values in h
======== ==============================================================

Backends: C++/OpenMP (``csrc/eval_heatmap_stats.cpp``) on CPU, Triton (``kernels/eval_heatmap_stats.py``)
on CUDA (or CPU under ``TRITON_INTERPRET=1`` when asked for), torch reference elsewhere.
Sums are accumulated in float64 on every backend (every value widened before it is added), so
finite float16/32 maps never give a non-finite or float32-rounded sum. A float64 map whose sum
exceeds the float64 range gives ±inf in that column (the localisation metrics prescale such rows
by an exact power of two, which leaves their ratios unchanged).
Box ranges are validated here (``check_ranges``) before any kernel sees them.
"""
from __future__ import annotations

from typing import Tuple

import torch

from fastxai import _ext, backends

STATS = ("max", "argmax", "hit", "sum", "sum_pos", "sum_in", "pos_in", "count", "nonfinite")
COL = {name: i for i, name in enumerate(STATS)}


SIGNS = {"signed": 0, "abs": 1, "positive": 2}


def _apply_sign(h: torch.Tensor, sign: str) -> torch.Tensor:
    if sign not in SIGNS:
        raise ValueError(f"sign must be signed|abs|positive, got {sign!r}")
    if sign == "abs":
        return h.abs()
    if sign == "positive":
        return h.clamp(min=0)
    return h


def reference_heatmap_stats(h: torch.Tensor, m: torch.Tensor, sign: str = "signed") -> torch.Tensor:
    """Plain-torch reference. h: (N, P) float, m: (N, P) bool -> (N, 9) float64.

    ``sign`` (signed | abs | positive) is applied to h first; the non-finite count is of the raw h.
    """
    n, p = h.shape
    raw = h
    h = _apply_sign(h, sign)
    out = torch.zeros(n, len(STATS), dtype=torch.float64, device=h.device)
    if p == 0 or n == 0:
        return out
    m = m.to(torch.bool)
    hd = h.to(torch.float64)
    mx = h.amax(dim=1)  # finite inputs only: callers validate NaN/Inf first (nonfinite column)
    is_max = h == mx[:, None]
    idx = torch.arange(p, device=h.device).expand(n, p)
    arg = torch.where(is_max, idx, torch.full_like(idx, p)).amin(dim=1).clamp(max=p - 1)
    pos = hd.clamp(min=0)
    out[:, 0] = mx.to(torch.float64)
    out[:, 1] = arg.to(torch.float64)
    out[:, 2] = (is_max & m).any(dim=1).to(torch.float64)
    out[:, 3] = hd.sum(1)
    out[:, 4] = pos.sum(1)
    out[:, 5] = (hd * m).sum(1)
    out[:, 6] = (pos * m).sum(1)
    out[:, 7] = m.sum(1).to(torch.float64)
    out[:, 8] = (~torch.isfinite(raw)).sum(1).to(torch.float64)
    return out


def _as_uint8(m: torch.Tensor) -> torch.Tensor:
    """Mask bytes without a copy when possible (a contiguous bool tensor is viewed as uint8)."""
    if m.dtype == torch.bool and m.is_contiguous():
        return m.view(torch.uint8)
    return m.to(torch.uint8).contiguous()


def heatmap_stats(h: torch.Tensor, m: torch.Tensor, sign: str = "signed", simd: bool = True) -> torch.Tensor:
    """Fused per-map statistics (see module docstring) of ``sign(h)``.

    Args:
        h: (N, P) float32/float64 heat maps (flattened spatial dims).
        m: (N, P) bool masks.
        sign: ``signed`` | ``abs`` | ``positive``, applied inside the pass (no transformed copy).
        simd: allow the AVX-512 float32 row path of the C++ kernel (False: portable loop; for tests).
    Returns:
        (N, 9) float64, columns ``STATS``.
    """
    if h.dim() != 2 or m.shape != h.shape:
        raise ValueError(f"h and m must both be (N, P); got {tuple(h.shape)} and {tuple(m.shape)}")
    _apply_sign(h[:0], sign)  # validates the name
    use_cpp = h.dtype in (torch.float32, torch.float64)
    backend = backends.select("eval_heatmap_stats", h.device, has_cpp=use_cpp, has_triton=use_cpp)
    if backend == "torch" or h.numel() == 0:
        return reference_heatmap_stats(h, m, sign)
    hc = h.contiguous()
    mc = _as_uint8(m)
    if backend == "triton":
        from fastxai.kernels.eval_heatmap_stats import heatmap_stats_triton

        out = heatmap_stats_triton(_apply_sign(hc, sign), mc)
        if sign != "signed":
            out[:, 8] = (~torch.isfinite(hc)).sum(1).to(out.dtype)
        return out
    n, p = hc.shape
    out = torch.empty(n, len(STATS), dtype=torch.float64)
    fn = _ext.cpp().eval_heatmap_stats_f32 if hc.dtype == torch.float32 else _ext.cpp().eval_heatmap_stats_f64
    fn(hc.data_ptr(), mc.data_ptr(), out.data_ptr(), n, p, SIGNS[sign], bool(simd))
    return out


def volume_dims(spatial) -> Tuple[int, int, int]:
    """(D, H, W) of a (H, W) or (D, H, W) spatial shape (2D: D = 1), as the box kernels take it."""
    d, hh, w = (1, *spatial) if len(spatial) == 2 else tuple(spatial)
    return int(d), int(hh), int(w)


def ranges_to_mask(ranges: torch.Tensor, spatial) -> torch.Tensor:
    """(N, B, 6) int64 half-open pixel ranges [z0, z1, y0, y1, x0, x1] -> (N, P) bool union mask."""
    d, hh, w = volume_dims(spatial)
    n = ranges.shape[0]
    iz, iy, ix = torch.arange(d), torch.arange(hh), torch.arange(w)
    r = ranges[..., None]
    inz = (iz >= r[:, :, 0]) & (iz < r[:, :, 1])  # (N, B, D)
    iny = (iy >= r[:, :, 2]) & (iy < r[:, :, 3])
    inx = (ix >= r[:, :, 4]) & (ix < r[:, :, 5])
    m = (inz[:, :, :, None, None] & iny[:, :, None, :, None] & inx[:, :, None, None, :]).any(1)
    return m.reshape(n, d * hh * w)


def check_ranges(ranges: torch.Tensor, n: int, spatial) -> torch.Tensor:
    """Validated box ranges: (N, B, 6) integer, each [lo, hi] pair inside [0, extent] of its axis
    (z in [0, D], y in [0, H], x in [0, W]); returned as a contiguous int64 CPU tensor."""
    d, hh, w = volume_dims(spatial)
    if not isinstance(ranges, torch.Tensor) or ranges.dim() != 3 or ranges.shape[0] != n or ranges.shape[2] != 6:
        raise ValueError(f"ranges must be an (N, B, 6) = ({n}, B, 6) tensor, got "
                         f"{tuple(ranges.shape) if isinstance(ranges, torch.Tensor) else type(ranges).__name__}")
    if ranges.is_floating_point() or ranges.is_complex() or ranges.dtype == torch.bool:
        raise ValueError(f"ranges must hold integer pixel indices, got {ranges.dtype}")
    r = ranges.detach().to(device="cpu", dtype=torch.int64).contiguous()
    if min(d, hh, w) < 1:
        raise ValueError(f"spatial must be positive, got {(d, hh, w)}")
    if r.numel():
        ext = torch.tensor([d, d, hh, hh, w, w], dtype=torch.int64)
        bad = ((r < 0) | (r > ext)).any(-1).any(-1)
        if bool(bad.any()):
            raise ValueError(f"ranges must lie in [0, extent] per axis (D, H, W) = {(d, hh, w)}; rows "
                             f"{torch.nonzero(bad).flatten()[:10].tolist()} do not")
    return r


def reference_heatmap_stats_boxes(h: torch.Tensor, ranges: torch.Tensor, spatial, sign: str = "signed") -> torch.Tensor:
    """Plain-torch reference: rasterise the ranges, then ``reference_heatmap_stats``."""
    return reference_heatmap_stats(h, ranges_to_mask(ranges, spatial).to(h.device), sign)


def heatmap_stats_boxes(h: torch.Tensor, ranges: torch.Tensor, spatial, sign: str = "signed",
                        simd: bool = True) -> torch.Tensor:
    """``heatmap_stats`` with box annotations as pixel ranges, without an (N, P) mask.

    Args:
        h: (N, P) float heat maps, P = prod(spatial).
        ranges: (N, B, 6) int64 clipped half-open ranges [z0, z1, y0, y1, x0, x1] (2D: z = [0, 1)),
            from ``fastxai.eval.boxes.box_ranges``.
        spatial: (H, W) or (D, H, W).
    Returns:
        (N, 9) float64, columns ``STATS``.
    """
    _apply_sign(h[:0], sign)
    d, hh, w = volume_dims(spatial)
    if h.dim() != 2 or h.shape[1] != d * hh * w:
        raise ValueError(f"h must be (N, {d * hh * w}); got {tuple(h.shape)}")
    ranges = check_ranges(ranges, h.shape[0], spatial)
    use_cpp = h.dtype in (torch.float32, torch.float64)
    backend = backends.select("eval_heatmap_stats", h.device, has_cpp=use_cpp, has_triton=False)
    if backend != "cpp" or h.numel() == 0:
        return reference_heatmap_stats_boxes(h, ranges, spatial, sign)
    hc = h.contiguous()
    rc = ranges
    out = torch.empty(h.shape[0], len(STATS), dtype=torch.float64)
    c = _ext.cpp()
    fn = c.eval_heatmap_stats_boxes_f32 if hc.dtype == torch.float32 else c.eval_heatmap_stats_boxes_f64
    fn(hc.data_ptr(), rc.data_ptr(), out.data_ptr(), h.shape[0], rc.shape[1], d, hh, w, SIGNS[sign], bool(simd))
    return out
