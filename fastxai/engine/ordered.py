"""Arithmetic in a fixed order: the determinism rule for fastxai's own reductions.

Torch's reductions (``sum``, ``index_add_``, a GEMM) choose their summation order from the
tensor sizes and the thread count: the same sum over 4,096 × 64 values differs in the last
bits between 1 and 2 threads, and a sum accumulated chunk by chunk depends on where the
(calibrated, call-dependent) chunk boundaries fall. fastxai's reductions therefore use only
elementwise operations in an order fixed by the data's *logical* layout:

* :func:`fixed_order_sum` -- a pairwise tree over a dim, whose shape depends only on that
  dim's length (elementwise adds of two halves; no torch reduction kernel);
* :func:`ordered_add` -- ``acc += a · b`` one row at a time, in row order, so accumulating in
  chunks gives the same bits as accumulating at once;
* :func:`single_threaded` -- a context for dense linear algebra (LAPACK / BLAS solves in the
  surrogate fits), whose results also depend on the thread count.

Together they make a seeded result bit-identical across chunk sizes, calibration state,
backends and thread counts whenever the model's own outputs are batch-invariant.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor


def fixed_order_sum(t: Tensor, dim: int = 0) -> Tensor:
    """Sum over ``dim`` by a pairwise tree fixed by ``t.shape[dim]`` alone.

    Each level adds the first half of the rows to the second half elementwise (an odd row
    count is padded with one zero row, which adds exactly), so every output element is
    summed in the same order on every thread count and device. Also more accurate than a
    running sum (error grows with log R, not R).

    Args:
        t: any tensor; R = ``t.shape[dim]`` (R = 0 gives zeros).
    Returns:
        ``t`` summed over ``dim`` (that dim removed), in ``t``'s dtype.
    """
    t = t.movedim(dim, 0)
    if t.shape[0] == 0:
        return torch.zeros(t.shape[1:], dtype=t.dtype, device=t.device)
    while t.shape[0] > 1:
        r = t.shape[0]
        if r % 2:
            t = torch.cat([t, torch.zeros_like(t[:1])], dim=0)
            r += 1
        t = t[: r // 2] + t[r // 2 :]
    return t[0]


def ordered_add(acc: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``acc += sum_k a[k] * b[k]``, one k at a time in order (product rounded, then added).

    Args:
        acc: (O, E) accumulator, updated in place.
        a: (K, O) weights; b: (K, E) values (cast to ``acc``'s dtype).
    Returns:
        ``acc``. Splitting K into chunks and calling once per chunk gives the same bits.
    """
    tmp = torch.empty_like(acc)
    a = a.to(acc.dtype)
    for k in range(a.shape[0]):
        torch.mul(a[k].unsqueeze(1), b[k].unsqueeze(0).to(acc.dtype), out=tmp)
        acc.add_(tmp)
    return acc


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the enclosed torch CPU ops on one thread (restored afterwards).

    LAPACK's least-squares drivers and multi-threaded reductions split their work by thread
    count, so their last bits depend on it; the surrogate fits run inside this context.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
