"""Streaming moments and dtype bookkeeping shared by the summary statistics.

Partial results are kept as *rows* (one row per shard or accumulation), the layout of the
evaluator's ``cat`` states, so merging two summaries concatenates rows and ``sync`` gathers
them. A row of moments is ``(n, mean, m2)`` with ``m2 = sum((x - mean) ** 2)``; rows combine
with Chan et al.'s pairwise update, which for a row holding one observation is exactly
Welford's step (Captum's ``Mean`` / ``MSE`` recurrence)::

    n = na + nb;  d = mb - ma;  mean = ma + d * nb / n;  m2 = m2a + m2b + d * d * na * nb / n

All moment arithmetic is float64; results are cast back to the dtype Captum would return.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

# dtypes a summarised tensor may have, in a fixed order: the index is the flag position of
# the ``dtypes`` state (max-reduced, so merges and syncs take the union).
DTYPES: Tuple[torch.dtype, ...] = (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
)


def dtype_flags(dtype: torch.dtype) -> Tensor:
    """(len(DTYPES),) int64 one-hot of ``dtype`` (a dtype outside DTYPES raises ``TypeError``)."""
    if dtype not in DTYPES:
        raise TypeError(f"summary statistics support {[str(d) for d in DTYPES]}, got {dtype}")
    flags = torch.zeros(len(DTYPES), dtype=torch.int64)
    flags[DTYPES.index(dtype)] = 1
    return flags


def promoted(flags: Tensor) -> Optional[torch.dtype]:
    """The type-promotion of every dtype flagged in ``flags`` (None when none is)."""
    out: Optional[torch.dtype] = None
    for i, on in enumerate(flags.tolist()):
        if on:
            out = DTYPES[i] if out is None else torch.promote_types(out, DTYPES[i])
    return out


def mean_dtype(dtype: torch.dtype) -> torch.dtype:
    """Captum's ``Mean`` keeps a floating dtype and turns anything else into float64."""
    return dtype if dtype.is_floating_point else torch.float64


def batch_moments(xs: Tensor) -> Tuple[int, Tensor, Tensor]:
    """(n, mean, m2) of the rows of ``xs`` (N, *S): mean and m2 float64 (*S)."""
    x = xs.detach().to(torch.float64)
    mean = x.mean(0)
    return int(xs.shape[0]), mean, ((x - mean) ** 2).sum(0)


def combine(a: Tuple[int, Tensor, Tensor], b: Tuple[int, Tensor, Tensor]) -> Tuple[int, Tensor, Tensor]:
    """Chan's pairwise combination of two (n, mean, m2) partials (float64 (*S) tensors)."""
    na, ma, qa = a
    nb, mb, qb = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    d = mb - ma
    return n, ma + d * (nb / n), qa + qb + d * d * (na * nb / n)


def fold_rows(counts: Sequence[Tensor], means: Sequence[Tensor],
              m2s: Optional[Sequence[Tensor]] = None) -> Tuple[int, Optional[Tensor], Optional[Tensor]]:
    """Combine partial rows in order: counts (P,) int64, means / m2s (P, *S) float64 blocks.

    Returns (n, mean (*S), m2 (*S)); mean / m2 are None when there are no rows (m2 is None when
    ``m2s`` is not given)."""
    if not counts:
        return 0, None, None
    c = torch.cat(list(counts)).tolist()
    m = torch.cat(list(means))
    q = torch.cat(list(m2s)) if m2s is not None else torch.zeros_like(m)
    acc = (int(c[0]), m[0], q[0])
    for i in range(1, len(c)):
        acc = combine(acc, (int(c[i]), m[i], q[i]))
    return acc[0], acc[1], acc[2] if m2s is not None else None


def fold_into_last(rows: List[Tensor], value: Tensor) -> List[Tensor]:
    """``rows`` with ``value`` (1, *S) replacing the last row of the last block (or appended).

    Blocks are never modified in place: after a merge they may be shared with another summary.
    """
    if not rows:
        return [value]
    last = rows[-1]
    if last.shape[0] == 1:
        return rows[:-1] + [value]
    return rows[:-1] + [torch.cat([last[:-1], value])]


def last_row(rows: List[Tensor]) -> Optional[Tensor]:
    """The last row (1, *S) of a list of row blocks (None when empty)."""
    return rows[-1][-1:] if rows else None
