"""How many rows go into one model call.

On a CPU the cost per row grows above some batch size (caches), on a GPU small batches leave
the device idle; the best size depends on model, input shape, dtype, device and threads. The
:class:`ChunkSizer` finds it *online*: the first chunks are real work processed at growing
sizes (powers of two) and timed, the fastest size per row is kept and cached per key, so
calibration costs almost nothing and later calls start settled. A call too short to finish the
search (64 tabular rows x 50 IG steps) leaves its timings behind and the next call with the
same key resumes where it stopped, rather than judging the last size it reached on one
truncated try. ``max_batch`` (rows) and ``max_memory`` (bytes) cap every choice.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

from fastxai.engine.checks import batch_dependent_modules  # noqa: F401  (kept importable here)

_CACHE: Dict[Tuple[Any, ...], int] = {}
# Searches left unfinished by a call, per key: (per-row seconds by size, tries by size, worse_in_row).
_PARTIAL: Dict[Tuple[Any, ...], Tuple[Dict[int, float], Dict[int, int], int]] = {}
# Rows tried, in order, before settling; the sequence stops early once per-row time rises.
_LADDER = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_WORSE = 1.10  # a size this much slower per row than the best ends the search
_TRIES_PER_SIZE = 2


def clear_cache() -> None:
    """Forget every settled chunk size and unfinished search (tests, or after changing thread counts)."""
    _CACHE.clear()
    _PARTIAL.clear()


def unfinished_searches() -> int:
    """How many keys still have a chunk-size search in progress (benches warm up until 0)."""
    return len(_PARTIAL)


def model_key(forward_func: Callable[..., Any], inputs: Tuple[Tensor, ...], mode: str) -> Tuple[Any, ...]:
    """Cache key: (model identity, per-row shapes, dtypes, device, torch threads, mode)."""
    target = getattr(forward_func, "__self__", forward_func)
    return (
        id(target),
        tuple(tuple(x.shape[1:]) for x in inputs),
        tuple(str(x.dtype) for x in inputs),
        str(inputs[0].device) if inputs else "cpu",
        torch.get_num_threads(),
        mode,
    )


def estimate_row_bytes(
    inputs: Tuple[Tensor, ...], mode: str = "forward", forward_func: Optional[Callable[..., Any]] = None
) -> int:
    """Bytes one more row is expected to cost: its inputs, plus activations (a 16x-input
    allowance for a forward, 48x for forward+backward, which keeps activations alive)."""
    per_row = sum(x[:1].numel() * x.element_size() for x in inputs if x.dim() > 0)
    factor = 48 if mode == "backward" else 16
    return max(1, per_row * factor)


class ChunkSizer:
    """Chooses rows per model call; see the module docstring.

    Args:
        key: cache key (see :func:`model_key`), or None to disable caching.
        total_rows: rows the whole call needs (P·N).
        row_bytes: memory one row costs (see :func:`estimate_row_bytes`).
        max_batch: hard cap on rows per call (Captum's ppe·N / internal_batch_size map here).
        max_memory: cap in bytes for one call's rows.
        granularity: preferred multiple (e.g. N, so a chunk holds whole perturbations).
    """

    def __init__(
        self,
        key: Optional[Tuple[Any, ...]],
        total_rows: int,
        row_bytes: int,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        granularity: int = 1,
        device: Optional[torch.device] = None,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_memory is not None and max_memory <= 0:
            raise ValueError(f"max_memory must be > 0 bytes, got {max_memory}")
        self.key = key
        self.granularity = max(1, granularity)
        cap = total_rows
        if max_batch is not None:
            cap = min(cap, max_batch)
        if max_memory is not None:
            cap = min(cap, max(1, max_memory // max(1, row_bytes)))
        self.cap = max(1, cap)
        self.device = device
        self._settled: Optional[int] = None
        if key is not None and key in _CACHE:
            self._settled = min(_CACHE[key], self.cap)
        self._trials: Dict[int, float] = {}  # rows -> best seconds per row
        self._tries: Dict[int, int] = {}  # rows -> how many timed calls so far
        self._ladder = [r for r in _LADDER if r < self.cap] + [self.cap]
        self._ladder = sorted(set(self._round(r) for r in self._ladder))
        self._step = 0
        self._worse_in_row = 0
        self.calibration_seconds = 0.0
        if self._settled is None and key is not None and key in _PARTIAL:
            trials, tries, self._worse_in_row = _PARTIAL[key]
            self._trials, self._tries = dict(trials), dict(tries)
            # sizes are tried in increasing order: resume after those already timed twice
            self._step = sum(1 for r in self._ladder if self._tries.get(r, 0) >= _TRIES_PER_SIZE)
            if self._step >= len(self._ladder):
                self._finish()

    def _round(self, rows: int) -> int:
        """Round to a multiple of the granularity (up for sizes below it), within the cap."""
        g = self.granularity
        rows = max(g, (rows // g) * g)
        return max(1, min(rows, self.cap))

    @property
    def calibrating(self) -> bool:
        """True while sizes are still being tried."""
        return self._settled is None

    @property
    def settled_rows(self) -> Optional[int]:
        """The chosen rows per call, once known."""
        return self._settled

    def next_rows(self, remaining: int) -> int:
        """Rows for the next call (never more than ``remaining``)."""
        if self._settled is not None:
            # Spread what is left evenly over the calls it needs (50 IG steps at 16 per call:
            # 13, 13, 12, 12 rather than 16, 16, 16, 2): no small, inefficient last call.
            calls = -(-remaining // self._settled)
            rows = -(-remaining // calls)
            g = self.granularity
            rows = -(-rows // g) * g  # whole perturbations / steps; still <= settled
            return max(1, min(self._settled, rows, remaining))
        rows = self._ladder[min(self._step, len(self._ladder) - 1)]
        return max(1, min(rows, remaining))

    def clock(self) -> float:
        """A timestamp; synchronises the GPU only while calibrating (no host sync afterwards)."""
        if self.calibrating and self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def record(self, rows: int, seconds: float) -> None:
        """Report that a call of ``rows`` rows took ``seconds``; advances the calibration."""
        if self._settled is not None:
            return
        self.calibration_seconds += seconds
        planned = self._ladder[min(self._step, len(self._ladder) - 1)]
        if rows != planned:  # a truncated last chunk says little about the planned size
            if self.key is None:  # nothing to resume from: settle on what was measured
                self._finish()
            return
        per_row = seconds / max(rows, 1)
        self._trials[rows] = min(per_row, self._trials.get(rows, float("inf")))
        self._tries[rows] = self._tries.get(rows, 0) + 1
        # time each size twice (the first call at a new shape pays one-off setup), then move on
        if self._tries[rows] >= _TRIES_PER_SIZE:
            best = min(self._trials.values())
            self._step += 1
            # Stop after two sizes in a row that are clearly slower per row than the best: one
            # slow reading can be noise (another process), two in a row is the cache cliff.
            self._worse_in_row = self._worse_in_row + 1 if self._trials[rows] > best * _WORSE else 0
        if self.key is not None:
            _PARTIAL[self.key] = (self._trials, self._tries, self._worse_in_row)
        if self._worse_in_row >= 2 or self._step >= len(self._ladder):
            self._finish()

    def _finish(self) -> None:
        if not self._trials:
            self._settled = self.cap
        else:
            best = min(self._trials.values())
            # among sizes within 3 % of the best per-row time, prefer the largest (fewer calls)
            good = [r for r, t in self._trials.items() if t <= best * 1.03]
            self._settled = max(good)
        if self.key is not None:
            _CACHE[self.key] = self._settled
            _PARTIAL.pop(self.key, None)
        # a search resumed from earlier calls may have timed sizes above this call's caps
        self._settled = min(self._settled, self.cap)
