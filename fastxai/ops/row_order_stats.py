"""Two adjacent order statistics per row, by selection instead of a full sort.

Used on the host by the replay of Captum's KernelShap draws: a size-k coalition is the k
largest of M normals, so only the threshold (and its neighbour, to detect near-ties) is
needed. It runs where those draws live, on the CPU generator's stream, so there is a C++
kernel and the torch reference but no Triton kernel.
"""
from __future__ import annotations

import torch
from torch import Tensor

from fastxai import _ext, backends


def reference_row_order_stats(vals: Tensor, rank: Tensor) -> Tensor:
    """(R, 2): the ``rank``-th and ``min(rank + 1, M - 1)``-th smallest value of each row.

    Shapes: vals (R, M) float32, M >= 1; rank (R,) int64 in [0, M).
    """
    m = vals.shape[1]
    srt = vals.sort(dim=1).values
    r = rank.reshape(-1, 1)
    return torch.cat([srt.gather(1, r), srt.gather(1, (r + 1).clamp(max=m - 1))], dim=1)


def row_order_stats(vals: Tensor, rank: Tensor) -> Tensor:
    """Dispatching version of :func:`reference_row_order_stats` (same contract)."""
    if vals.dim() != 2 or vals.shape[1] == 0 or rank.shape != vals.shape[:1]:
        raise ValueError(
            f"row_order_stats: vals must be (R, M>0) and rank (R,), got {tuple(vals.shape)} "
            f"and {tuple(rank.shape)}"
        )
    if rank.numel() and bool(((rank < 0) | (rank >= vals.shape[1])).any()):
        raise ValueError(f"row_order_stats: rank must lie in [0, {vals.shape[1]})")
    if backends.requested_backend() == "triton":
        # no Triton kernel: under a forced Triton backend the ops built on this one (KernelShap's
        # seeded coalitions) keep their Triton kernels and select with the torch reference
        return reference_row_order_stats(vals, rank)
    backend = backends.select("row_order_stats", vals.device, has_triton=False)
    if backend != "cpp" or vals.dtype != torch.float32 or vals.shape[0] == 0:
        return reference_row_order_stats(vals, rank)
    v = vals.contiguous()
    rk = rank.to(torch.int64).contiguous()
    out = torch.empty(vals.shape[0], 2, dtype=torch.float32)
    _ext.cpp().row_order_stats(v.data_ptr(), rk.data_ptr(), out.data_ptr(), v.shape[0], v.shape[1])
    return out
