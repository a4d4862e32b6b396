"""Top-k selection and ranks per heat map, with one tie rule on every backend.

Tie rule for "the k highest pixels": all pixels with value > the k-th largest value, then
pixels equal to it in increasing flat index until k are taken (as a stable descending sort).
Fixed k uses selection (``kthvalue``), not a full sort; a per-sample k sorts once per map.
"""
from __future__ import annotations

import torch


def top_k_select(h: torch.Tensor, k: int) -> torch.Tensor:
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


def top_k_hits_variable(h: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(N,) number of mask pixels among the k[n] highest pixels of row n (tie rule, one sort).

    h: (N, P) float, m: (N, P) bool, k: (N,) int64 in [0, P].
    """
    n, p = h.shape
    if p == 0:
        return torch.zeros(n, dtype=torch.int64)
    order = torch.sort(h, dim=1, descending=True, stable=True).indices
    hits = torch.cumsum(m.gather(1, order).to(torch.int64), 1)
    hits = torch.cat([torch.zeros(n, 1, dtype=torch.int64, device=h.device), hits], 1)
    return hits.gather(1, k.clamp(0, p).to(torch.int64)[:, None])[:, 0]


def tie_bounds_top_k_hits(h: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, hi): fewest / most mask pixels any tie order can place among the k highest. For tests."""
    out_lo, out_hi = [], []
    for row, mrow, kk in zip(h, m, k.tolist()):
        if kk == 0:
            out_lo.append(0)
            out_hi.append(0)
            continue
        kth = torch.sort(row, descending=True).values[kk - 1]
        above = row > kth
        tied = row == kth
        need = kk - int(above.sum())
        base = int((above & mrow).sum())
        tied_in, tied_out = int((tied & mrow).sum()), int((tied & ~mrow).sum())
        out_lo.append(base + max(0, need - tied_out))
        out_hi.append(base + min(need, tied_in))
    return torch.tensor(out_lo), torch.tensor(out_hi)


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
