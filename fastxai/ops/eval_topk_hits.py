"""Mask pixels among the k highest pixels of each heat map, for several k, by selection.

Tie rule (every backend): values > the k-th largest, then values equal to it in increasing
flat index (as a stable descending sort); -0.0 and +0.0 tie. C++/OpenMP
(``csrc/eval_topk_hits.cpp``: per k and row, a strided sample gives a threshold, one pass keeps
the candidates above it, ``nth_element`` selects among them — the whole row when too few pass)
on CPU; Triton (``kernels/eval_topk_hits.py``: per map and k a radix select on the
order-preserving integer keys, RB bits per read of the row, then a count of the values above
and a prefix count of the tied ones) on CUDA (CPU under ``TRITON_INTERPRET=1`` when asked for);
torch reference (``kthvalue`` + cumulative tie count). Heat maps must be free of NaN (callers
validate them first).
"""
from __future__ import annotations

from typing import Sequence

import torch

from fastxai import _ext, backends


def reference_top_k_select(h: torch.Tensor, k: int) -> torch.Tensor:
    """(N, P) bool: the k highest pixels per row by the tie rule. h: (N, P); 0 <= k <= P."""
    n, p = h.shape
    if k <= 0 or p == 0:
        return torch.zeros_like(h, dtype=torch.bool)
    if k >= p:
        return torch.ones_like(h, dtype=torch.bool)
    kth = -torch.kthvalue(-h, k, dim=1).values  # k-th largest
    above = h > kth[:, None]
    tied = h == kth[:, None]
    need = k - above.sum(1, keepdim=True)
    return above | (tied & (torch.cumsum(tied.to(torch.int32), 1) <= need))


def reference_topk_hits(h: torch.Tensor, m: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """Plain-torch reference. h (N, P) float, m (N, P) bool, ks: T ints in [0, P] -> (N, T) int64."""
    cols = [(reference_top_k_select(h, int(k)) & m).sum(1) for k in ks]
    return torch.stack(cols, 1) if cols else torch.zeros(h.shape[0], 0, dtype=torch.int64)


def reference_topk_hits_per_row(h: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Plain-torch reference with one k per row (one stable sort per row). k (N,) -> (N,) int64."""
    n, p = h.shape
    if p == 0:
        return torch.zeros(n, dtype=torch.int64)
    order = torch.sort(h, dim=1, descending=True, stable=True).indices
    hits = torch.cumsum(m.gather(1, order).to(torch.int64), 1)
    hits = torch.cat([torch.zeros(n, 1, dtype=torch.int64, device=h.device), hits], 1)
    return hits.gather(1, k.clamp(0, p).to(torch.int64)[:, None])[:, 0]


def reference_mask_counts(m: torch.Tensor) -> torch.Tensor:
    """Plain-torch reference: mask pixels per row. m (N, P) bool -> (N,) int64."""
    return m.sum(1).to(torch.int64)


def mask_counts(m: torch.Tensor) -> torch.Tensor:
    """Mask pixels per row, (N, P) bool -> (N,) int64 (C++: one byte-count pass, no bool->int copy)."""
    if m.dim() != 2:
        raise ValueError(f"m must be (N, P); got {tuple(m.shape)}")
    use = backends.select("eval_topk_hits", m.device, has_cpp=True, has_triton=False) == "cpp"
    if not use or m.numel() == 0:
        return reference_mask_counts(m)
    mc = _as_uint8(m)
    out = torch.empty(m.shape[0], dtype=torch.int64)
    _ext.cpp().eval_mask_counts(mc.data_ptr(), out.data_ptr(), m.shape[0], m.shape[1])
    return out


def _as_uint8(m: torch.Tensor) -> torch.Tensor:
    if m.dtype == torch.bool and m.is_contiguous():
        return m.view(torch.uint8)
    return m.to(torch.uint8).contiguous()


def _cpp(h: torch.Tensor, m: torch.Tensor, kt: torch.Tensor, t: int, stride: int) -> torch.Tensor:
    hc = h.contiguous()
    mc = _as_uint8(m)
    out = torch.empty(h.shape[0], t, dtype=torch.int64)
    c = _ext.cpp()
    fn = c.eval_topk_hits_f32 if hc.dtype == torch.float32 else c.eval_topk_hits_f64
    fn(hc.data_ptr(), mc.data_ptr(), kt.data_ptr(), out.data_ptr(), h.shape[0], h.shape[1], t, stride)
    return out


def _triton(h: torch.Tensor, m: torch.Tensor, kt: torch.Tensor, t: int, stride: int) -> torch.Tensor:
    from fastxai.kernels.eval_topk_hits import topk_hits_triton

    return topk_hits_triton(h.contiguous(), _as_uint8(m), kt.to(h.device).contiguous(), t, stride)


def _check(h: torch.Tensor, m: torch.Tensor) -> str:
    if h.dim() != 2 or m.shape != h.shape:
        raise ValueError(f"h and m must both be (N, P); got {tuple(h.shape)} and {tuple(m.shape)}")
    ok = h.dtype in (torch.float32, torch.float64)
    return backends.select("eval_topk_hits", h.device, has_cpp=ok, has_triton=ok)


def topk_hits(h: torch.Tensor, m: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """|top-k(h[n]) ∩ m[n]| for each k in ``ks``. h (N, P) float32/64, m (N, P) bool -> (N, T) int64."""
    backend = _check(h, m)
    p = h.shape[1]
    if any(not 0 <= int(k) <= p for k in ks):
        raise ValueError(f"every k must be in [0, {p}], got {list(ks)}")
    if backend == "torch" or h.numel() == 0 or len(ks) == 0:
        return reference_topk_hits(h, m, ks)
    kt = torch.tensor([int(k) for k in ks], dtype=torch.int64)
    if backend == "triton":
        return _triton(h, m, kt, len(ks), 0)
    return _cpp(h, m, kt, len(ks), 0)


def topk_hits_per_row(h: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """|top-k[n](h[n]) ∩ m[n]| with one k per row. h (N, P), m (N, P) bool, k (N,) in [0, P] -> (N,) int64."""
    backend = _check(h, m)
    if not isinstance(k, torch.Tensor) or k.shape != (h.shape[0],) or k.is_floating_point() or k.dtype == torch.bool:
        raise ValueError(f"k must be an (N,) = ({h.shape[0]},) integer tensor, got "
                         f"{tuple(k.shape) if isinstance(k, torch.Tensor) else type(k).__name__}")
    if backend == "torch" or h.numel() == 0:
        return reference_topk_hits_per_row(h, m, k)
    kt = k.to(torch.int64).clamp(0, h.shape[1])
    if backend == "triton":
        return _triton(h, m, kt, 1, 1)[:, 0]
    return _cpp(h, m, kt.contiguous().cpu(), 1, 1)[:, 0]  # k validated: (N,) in [0, P]
