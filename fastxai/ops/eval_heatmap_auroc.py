"""AUROC of each heat map as a pixel classifier of its mask (Mann-Whitney, ties count 1/2).

C++/OpenMP (``csrc/eval_heatmap_auroc.cpp``: radix sort of order-preserving float32 keys, one
merge walk) for float32 CPU maps; torch reference (one sort per map + average ranks) otherwise.
"""
from __future__ import annotations

import torch

from fastxai import _ext, backends


def average_ranks(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ascending ranks 1..P with ties averaged (scipy ``rankdata``), per row, and the sort order.

    h: (N, P). Returns (ranks in sorted order (N, P) float64, order (N, P) int64).
    """
    n, p = h.shape
    sorted_h, order = torch.sort(h, dim=1, stable=True)
    idx = torch.arange(p, device=h.device).expand(n, p)
    new = torch.ones_like(sorted_h, dtype=torch.bool)
    new[:, 1:] = sorted_h[:, 1:] != sorted_h[:, :-1]
    last = torch.ones_like(new)
    last[:, :-1] = new[:, 1:]
    start = torch.cummax(torch.where(new, idx, torch.zeros_like(idx)), 1).values
    end_rev = torch.where(last, idx, torch.full_like(idx, p - 1)).flip(1)
    end = torch.cummin(end_rev, 1).values.flip(1)
    return (start + end).to(torch.float64) / 2 + 1, order


def reference_heatmap_auroc(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """h (N, P) float, m (N, P) bool -> (N,) float64; NaN without positives or negatives."""
    ranks, order = average_ranks(h)
    m_sorted = m.gather(1, order)
    n_pos = m.sum(1).to(torch.float64)
    n_neg = m.shape[1] - n_pos
    r_pos = (ranks * m_sorted).sum(1)
    auc = (r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return torch.where((n_pos == 0) | (n_neg == 0), torch.full_like(auc, float("nan")), auc)


def heatmap_auroc_op(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-map AUROC. h (N, P) float, m (N, P) bool -> (N,) float64 (on CPU)."""
    if h.dim() != 2 or m.shape != h.shape:
        raise ValueError(f"h and m must both be (N, P); got {tuple(h.shape)} and {tuple(m.shape)}")
    backend = backends.select("eval_heatmap_auroc", h.device, has_cpp=h.dtype == torch.float32, has_triton=False)
    if backend == "torch" or h.numel() == 0:
        return reference_heatmap_auroc(h, m).cpu()
    hc = h.contiguous()
    mc = m.to(torch.uint8).contiguous()
    out = torch.empty(h.shape[0], dtype=torch.float64)
    _ext.cpp().eval_heatmap_auroc_f32(hc.data_ptr(), mc.data_ptr(), out.data_ptr(), h.shape[0], h.shape[1])
    return out
