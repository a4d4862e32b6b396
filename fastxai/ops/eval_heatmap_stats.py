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
Sums are accumulated in float64 (the C++ kernel first sums blocks of 64 values in the input dtype,
relative error ~1e-7 of Σ|h| for float32 maps, the same order as Quantus' own float32 sums).
"""
from __future__ import annotations

import torch

from fastxai import _ext, backends

STATS = ("max", "argmax", "hit", "sum", "sum_pos", "sum_in", "pos_in", "count", "nonfinite")
COL = {name: i for i, name in enumerate(STATS)}


def reference_heatmap_stats(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Plain-torch reference. h: (N, P) float, m: (N, P) bool -> (N, 9) float64."""
    n, p = h.shape
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
    out[:, 8] = (~torch.isfinite(h)).sum(1).to(torch.float64)
    return out


def heatmap_stats(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Fused per-map statistics (see module docstring).

    Args:
        h: (N, P) float32/float64 heat maps (flattened spatial dims).
        m: (N, P) bool masks.
    Returns:
        (N, 9) float64, columns ``STATS``.
    """
    if h.dim() != 2 or m.shape != h.shape:
        raise ValueError(f"h and m must both be (N, P); got {tuple(h.shape)} and {tuple(m.shape)}")
    use_cpp = h.dtype in (torch.float32, torch.float64)
    backend = backends.select("eval_heatmap_stats", h.device, has_cpp=use_cpp, has_triton=use_cpp)
    if backend == "torch" or h.numel() == 0:
        return reference_heatmap_stats(h, m)
    hc = h.contiguous()
    mc = m.to(torch.uint8).contiguous()
    if backend == "triton":
        from fastxai.kernels.eval_heatmap_stats import heatmap_stats_triton

        return heatmap_stats_triton(hc, mc)
    n, p = hc.shape
    out = torch.empty(n, len(STATS), dtype=torch.float64)
    fn = _ext.cpp().eval_heatmap_stats_f32 if hc.dtype == torch.float32 else _ext.cpp().eval_heatmap_stats_f64
    fn(hc.data_ptr(), mc.data_ptr(), out.data_ptr(), n, p)
    return out
