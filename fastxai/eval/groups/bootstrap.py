"""Bootstrap resamples as multiplicity matrices, generated in chunks of replicates.

* ``mode="fairlearn"`` reproduces fairlearn's ``MetricFrame`` resamples exactly:
  seeds ``default_rng(random_state).integers(0, 2**32 - 1, n_boot, dtype=uint32)`` and replicate
  i = ``RandomState(seed_i).choice(N, N)`` (what ``DataFrame.sample(frac=1, replace=True)`` draws).
  Non-stratified: a group can be absent from a replicate (its values are NaN there).
* ``mode="stratified"``: every group keeps its size; rows are drawn uniformly within groups
  (``default_rng(random_state)``, chunk-size independent draws per replicate).

A replicate is represented by its multiplicities (how often each row was drawn), so every
metric is a weighted metric on the original rows (exact for all built-in metrics).
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from fastxai.eval.errors import InputError


def fairlearn_seeds(n_boot: int, random_state: Optional[int]) -> np.ndarray:
    """The per-replicate seeds fairlearn draws for ``random_state`` (int or None)."""
    gen = np.random.default_rng(random_state)
    return gen.integers(low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)


def multiplicities(n: int, n_boot: int, *, random_state: Optional[int] = None, mode: str = "fairlearn",
                   codes: Optional[torch.Tensor] = None, chunk: int = 16,
                   as_counts: bool = False, as_indices: bool = False) -> Iterator[torch.Tensor]:
    """Yield (b, N) float64 multiplicity matrices, b <= chunk, n_boot rows in total.

    ``as_counts=True``: the same multiplicities as int64 (no float copy). ``as_indices=True``: the
    (b, N) int64 row indices drawn (their per-row ``bincount`` is the multiplicity matrix; the C++
    bootstrap walk counts them itself).
    """
    if mode == "fairlearn":
        seeds = fairlearn_seeds(n_boot, random_state)
        for lo in range(0, n_boot, chunk):
            sub = seeds[lo:lo + chunk]
            if as_indices:
                out = np.empty((len(sub), n), dtype=np.int64)
                for j, s in enumerate(sub):
                    out[j] = np.random.RandomState(s).choice(n, n)
                yield torch.from_numpy(out)
                continue
            out = np.empty((len(sub), n), dtype=np.int64 if as_counts else np.float64)
            for j, s in enumerate(sub):
                out[j] = np.bincount(np.random.RandomState(s).choice(n, n), minlength=n)
            yield torch.from_numpy(out)
    elif mode == "stratified":
        if codes is None:
            raise ValueError("stratified bootstrap needs the group codes")
        perm = torch.sort(codes, stable=True).indices
        sizes = torch.bincount(codes)
        starts = torch.cumsum(sizes, 0) - sizes
        c_sorted = codes[perm]
        rng = np.random.default_rng(random_state)
        seeds = rng.integers(0, np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)
        for lo in range(0, n_boot, chunk):
            u = torch.from_numpy(np.stack([np.random.default_rng(s).random(n) for s in seeds[lo:lo + chunk]]))
            pos = starts[c_sorted] + torch.floor(u * sizes[c_sorted]).to(torch.int64).clamp(max=n - 1)
            pick = perm[pos]  # (b, N) row indices
            if as_indices:
                yield pick
                continue
            dt = torch.int64 if as_counts else torch.float64
            yield torch.zeros(pick.shape[0], n, dtype=dt).scatter_add_(1, pick, torch.ones_like(pick, dtype=dt))
    else:
        raise ValueError(f"mode must be fairlearn|stratified, got {mode!r}")


def check_bootstrap(n_boot: Optional[int], ci_quantiles: Sequence[float], mode: str = "fairlearn",
                    chunk: int = 16) -> bool:
    """Validate the bootstrap arguments at the call (fairlearn's rules, plus counts >= 1), naming the
    argument; returns True when a bootstrap is asked for (``n_boot`` given)."""
    q = list(ci_quantiles or ())
    if n_boot is None:
        if q:
            raise InputError("ci_quantiles= needs n_boot= (fairlearn: specify both n_boot and ci_quantiles)")
        return False
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise InputError(f"n_boot must be an integer >= 1 (or None for no bootstrap), got {n_boot!r}")
    if not q:
        raise InputError("n_boot= needs ci_quantiles= (fairlearn: specify both n_boot and ci_quantiles)")
    if any(not isinstance(x, (float, int, np.floating)) or not 0 < float(x) < 1 for x in q):
        raise InputError(f"ci_quantiles must be numbers in (0, 1), got {q}")
    if mode not in ("fairlearn", "stratified"):
        raise InputError(f"bootstrap must be fairlearn|stratified, got {mode!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise InputError(f"chunk must be an integer >= 1, got {chunk!r}")
    return True
