"""Top-k selection and ranks per heat map, with one tie rule on every backend.

Tie rule for "the k highest pixels": all pixels with value > the k-th largest value, then
pixels equal to it in increasing flat index until k are taken (as a stable descending sort).
Kernels: ``fastxai.ops.eval_topk_hits`` (selection, not a full sort).
"""
from __future__ import annotations

import torch

from fastxai.ops.eval_heatmap_auroc import average_ranks  # noqa: F401 (one implementation, re-exported)
from fastxai.ops.eval_topk_hits import reference_top_k_select as top_k_select  # noqa: F401 (one reference)


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
