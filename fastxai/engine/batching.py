"""How many rows go into one model call.

On a CPU the cost per row grows above some batch size (caches), on a GPU small batches leave
the device idle; the best size depends on model, input shape, dtype, device and threads. The
:class:`ChunkSizer` finds it *online*: the first chunks are real work processed at growing
sizes (powers of two) and timed; the search stops once two sizes in a row bring no gain, and
the smallest size within 3 % of the fastest per row is kept — so a flat cost curve, or a noisy
one on a busy machine, settles small instead of climbing to huge chunks. The choice is cached
per key in the process and on disk (:mod:`fastxai.engine.calibration_cache`), so later calls
and later processes start settled. A call too short to finish the search leaves its timings
behind and the next call with the same key resumes where it stopped.

**Load robustness.** A settled choice carries the seconds per row it was measured at. On the
CPU every chunk is still timed (a clock read, no sync); when two chunks in a row run more than
2x slower — or faster — per row than that, the choice is *re-validated*: the next chunks run
at half, the same and twice the size, interleaved, twice each, and the best of these fresh
timings replaces the choice. (On CUDA, settled chunks are not synchronised, so they are not
timed and not re-validated.)

**Memory bound.** No chunk is planned above ``max_memory`` — by default a fraction of the memory
available now (:func:`fastxai.engine.memory.default_memory_bound`) — divided by the bytes per
row. Bytes per row start from :func:`estimate_row_bytes`; while searching, a chunk that raises
the process's memory peak shows what it really needed (:func:`fastxai.engine.memory.memory_mark`)
and the larger of the two figures is used (and stored with the choice).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from fastxai.engine import calibration_cache as disk
from fastxai.engine.calibration_cache import CacheKey
from fastxai.engine.checks import batch_dependent_modules  # noqa: F401  (kept importable here)
from fastxai.engine.memory import default_memory_bound, memory_mark

# Settled choices per key, with a weak reference to the model they were measured on.
_CACHE: Dict[Tuple[Any, ...], Tuple[disk.Choice, Any]] = {}
# Searches left unfinished by a call, per key: (per-row seconds by size, tries by size, stale).
_PARTIAL: Dict[Tuple[Any, ...], Tuple[Dict[int, float], Dict[int, int], int]] = {}
# Rows tried, in order, before settling; the sequence stops once bigger sizes bring no gain.
_LADDER = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_GAIN = 1.03  # a bigger size must be this much faster per row to count as progress
_TIE = 1.03  # sizes within this factor of the best per-row time count as equally fast
_TRIES_PER_SIZE = 2
_DRIFT = 2.0  # a settled chunk this much slower / faster per row than expected is "off"
_COOLDOWN = 8  # settled chunks between two re-validations
_PROBE_BYTES = 32  # chunks measured for memory once their estimate reaches bound / this


def clear_cache() -> None:
    """Forget every settled chunk size and unfinished search of this process (tests, or after
    changing thread counts). The on-disk cache is untouched (see ``calibration_cache.clear``)."""
    _CACHE.clear()
    _PARTIAL.clear()


def unfinished_searches() -> int:
    """How many keys still have a chunk-size search in progress (benches warm up until 0)."""
    return len(_PARTIAL)


def model_key(forward_func: Callable[..., Any], inputs: Tuple[Tensor, ...], mode: str) -> CacheKey:
    """Cache key: (model identity, per-row shapes, dtypes, device, torch threads, mode)."""
    target = getattr(forward_func, "__self__", forward_func)
    method = getattr(forward_func, "__name__", None) if target is not forward_func else None
    items = (
        id(target),
        tuple(tuple(x.shape[1:]) for x in inputs),
        tuple(str(x.dtype) for x in inputs),
        str(inputs[0].device) if inputs else "cpu",
        torch.get_num_threads(),
        mode,
    )
    return CacheKey(items, target, method)


def estimate_row_bytes(
    inputs: Tuple[Tensor, ...], mode: str = "forward", forward_func: Optional[Callable[..., Any]] = None
) -> int:
    """Bytes one more row is expected to cost: its inputs, plus activations (a 16x-input
    allowance for a forward, 48x for forward+backward, which keeps activations alive)."""
    per_row = sum(x[:1].numel() * x.element_size() for x in inputs if x.dim() > 0)
    factor = 48 if mode == "backward" else 16
    return max(1, per_row * factor)


def _lookup(key: Optional[Tuple[Any, ...]]) -> Optional[disk.Choice]:
    """The settled choice for ``key``: this process's cache, else the on-disk one."""
    if key is None:
        return None
    hit = _CACHE.get(key)
    owner = key.owner() if isinstance(key, CacheKey) else None
    if hit is not None:
        ref = hit[1]
        if ref is None or owner is None or ref() is owner:
            return hit[0]
        del _CACHE[key]  # the id belonged to a model that is gone
    if owner is None or key in _PARTIAL or not disk.enabled():
        return None
    descriptor = _descriptor(key)
    choice = disk.load(descriptor) if descriptor is not None else None
    if choice is not None:
        _CACHE[key] = (choice, key._ref)  # type: ignore[union-attr]
    return choice


def _descriptor(key: Any) -> Optional[Dict[str, Any]]:
    # the on-disk cache is an optimisation: a model it cannot describe is simply not cached
    try:
        return key.descriptor()
    except Exception:  # noqa: BLE001 - e.g. a custom module whose extra_repr raises
        return None


def _remember(key: Optional[Tuple[Any, ...]], choice: disk.Choice) -> None:
    if key is None:
        return
    _CACHE[key] = (choice, key._ref if isinstance(key, CacheKey) else None)
    if isinstance(key, CacheKey) and disk.enabled():
        descriptor = _descriptor(key)
        if descriptor is not None:
            disk.store(descriptor, choice)


class ChunkSizer:
    """Chooses rows per model call; see the module docstring.

    Args:
        key: cache key (see :func:`model_key`), or None to disable caching.
        total_rows: rows the whole call needs (P·N).
        row_bytes: memory one row costs (see :func:`estimate_row_bytes`).
        max_batch: hard cap on rows per call (Captum's ppe·N / internal_batch_size map here).
        max_memory: cap in bytes for one call's rows (None: the default memory bound).
        granularity: preferred multiple (e.g. N, so a chunk holds whole perturbations).
        device: where the rows live (CUDA: the clock synchronises while measuring).
        clock_fn: the time source (default :attr:`now`, ``time.perf_counter``; tests pass a fake).

    Class-level hooks (tests replace them): ``now`` (the clock) and ``memory_probe``
    (``device -> (bytes in use, peak bytes) | None``).
    """

    now: Callable[[], float] = time.perf_counter
    memory_probe: Callable[[Optional[torch.device]], Optional[Tuple[int, int]]] = memory_mark

    def __init__(
        self,
        key: Optional[Tuple[Any, ...]],
        total_rows: int,
        row_bytes: int,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        granularity: int = 1,
        device: Optional[torch.device] = None,
        clock_fn: Optional[Callable[[], float]] = None,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_memory is not None and max_memory <= 0:
            raise ValueError(f"max_memory must be > 0 bytes, got {max_memory}")
        self.key = key
        self.granularity = max(1, granularity)
        self.device = torch.device(device) if device is not None else None
        self._now = clock_fn if clock_fn is not None else type(self).now
        self._probe_mem = type(self).memory_probe
        self.memory_bound = int(max_memory) if max_memory is not None else default_memory_bound(self.device)
        self._row_cap = max(1, min(total_rows, max_batch if max_batch is not None else total_rows))
        self.row_bytes = self._given_row_bytes = max(1, int(row_bytes))
        self.measured_row_bytes: Optional[int] = None
        self.calibration_seconds = 0.0
        self.revalidations = 0
        self._settled: Optional[int] = None
        self._expected: Optional[float] = None
        self._trials: Dict[int, float] = {}  # rows -> best seconds per row
        self._tries: Dict[int, int] = {}  # rows -> how many timed calls so far
        self._stale = 0  # sizes in a row that brought no gain
        self._marks: List[Optional[Tuple[int, int]]] = []
        self._probe: Optional[List[int]] = None  # re-validation: sizes still to run, in order
        self._probe_times: Dict[int, float] = {}
        self._off = 0  # settled chunks in a row far from the expected time
        self._cooldown = 0
        self._step = 0  # index into the ladder
        self._monitor = clock_fn is not None or self.device is None or self.device.type != "cuda"
        choice = _lookup(key)
        if choice is not None and choice.row_bytes:
            self.row_bytes = max(self.row_bytes, int(choice.row_bytes))
        self._set_cap()
        if choice is not None:
            self._settled = min(choice.rows, self.cap)
            self._expected = choice.per_row_s if choice.rows <= self.cap else None
        elif key is not None and key in _PARTIAL:
            trials, tries, self._stale = _PARTIAL[key]
            self._trials, self._tries = dict(trials), dict(tries)
            self._resume()

    # -- sizes --------------------------------------------------------------------------------
    def _round(self, rows: int) -> int:
        """Round to a multiple of the granularity (up for sizes below it), within the cap."""
        g = self.granularity
        rows = max(g, (rows // g) * g)
        return max(1, min(rows, self.cap))

    def _set_cap(self) -> None:
        """Cap = min(total rows, max_batch, memory bound / bytes per row). Measured bytes per
        row (this call's or a remembered choice's) never cut it below one whole step when the
        caller's estimate allowed one, so a call's errors and chunk granularity do not depend on
        what an earlier call measured."""
        self.cap = max(1, min(self._row_cap, self.memory_bound // self.row_bytes))
        g = self.granularity
        if self.cap < g <= min(self._row_cap, self.memory_bound // self._given_row_bytes):
            self.cap = g
        self._sizes: Optional[List[int]] = None

    @property
    def _ladder(self) -> List[int]:
        """Sizes to try, in order, within the cap (built only when a search needs it)."""
        if self._sizes is None:
            ladder = [r for r in _LADDER if r < self.cap] + [self.cap]
            self._sizes = sorted(set(self._round(r) for r in ladder))
        return self._sizes

    def _resume(self) -> None:
        # sizes are tried in increasing order: resume after those already timed twice
        self._step = sum(1 for r in self._ladder if self._tries.get(r, 0) >= _TRIES_PER_SIZE)
        if self._step >= len(self._ladder):
            self._finish()

    @property
    def calibrating(self) -> bool:
        """True while sizes are being tried (the first search, or a re-validation)."""
        return self._settled is None or self._probe is not None

    @property
    def settled_rows(self) -> Optional[int]:
        """The chosen rows per call, once known."""
        return self._settled

    @property
    def expected_seconds_per_row(self) -> Optional[float]:
        """Seconds per row the settled choice was measured at (None while searching)."""
        return self._expected

    def next_rows(self, remaining: int) -> int:
        """Rows for the next call (never more than ``remaining``)."""
        if self._probe is not None:
            return max(1, min(self._probe[0], remaining))
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

    # -- measuring ----------------------------------------------------------------------------
    def clock(self) -> float:
        """A timestamp; while measuring it synchronises the GPU and notes the memory in use
        (no host sync once settled)."""
        if self.calibrating:
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            planned = self._probe[0] if self._probe else self._ladder[min(self._step, len(self._ladder) - 1)]
            if planned * self.row_bytes * _PROBE_BYTES >= self.memory_bound:
                self._marks = (self._marks + [self._probe_mem(self.device)])[-2:]
            else:
                self._marks = []
        return self._now()

    def record(self, rows: int, seconds: float) -> None:
        """Report that a call of ``rows`` rows took ``seconds``; advances the calibration, or
        checks a settled choice against the time it predicted."""
        if self._settled is not None and self._probe is None:
            self._watch(rows, seconds)
            return
        self.calibration_seconds += seconds
        if self._probe is not None:
            self._record_probe(rows, seconds)
        else:
            self._record_search(rows, seconds)
        self._note_memory(rows)

    def _note_memory(self, rows: int) -> None:
        """A chunk that raised the process's memory peak needed at least (new peak - memory
        in use before it): keep the larger of that per row and the estimate."""
        marks, self._marks = self._marks, []
        if len(marks) != 2 or marks[0] is None or marks[1] is None or rows < 1:
            return
        (used0, peak0), (_, peak1) = marks
        if peak1 <= peak0:
            return
        per_row = -(-(peak1 - used0) // rows)
        self.measured_row_bytes = max(self.measured_row_bytes or 0, per_row)
        if per_row > self.row_bytes:
            self.row_bytes = per_row
            self._set_cap()
            if self._settled is None:
                self._resume()
            elif self._settled > self.cap:
                self._settled, self._expected, self._probe = self.cap, None, None

    def _record_search(self, rows: int, seconds: float) -> None:
        if self._settled is not None:
            return
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
            before = [t for r, t in self._trials.items() if r != rows]
            best_before = min(before) if before else float("inf")
            self._step += 1
            # Stop after two sizes in a row that are not clearly faster per row than the best
            # so far: one such reading can be noise (another process), two in a row is a
            # plateau or the cache cliff.
            self._stale = 0 if self._trials[rows] * _GAIN < best_before else self._stale + 1
        if self.key is not None:
            _PARTIAL[self.key] = (self._trials, self._tries, self._stale)
        if self._stale >= 2 or self._step >= len(self._ladder):
            self._finish()

    def _finish(self) -> None:
        if not self._trials:
            self._settled, self._expected = self.cap, None
        else:
            rows, self._expected = _choose(self._trials)
            self._settled = rows
            if self.key is not None:
                _remember(self.key, disk.Choice(rows, self._expected, self.measured_row_bytes))
        if self.key is not None:
            _PARTIAL.pop(self.key, None)
        # a search resumed from earlier calls may have timed sizes above this call's caps
        if self._settled > self.cap:
            self._settled, self._expected = self.cap, None

    # -- re-validation ------------------------------------------------------------------------
    def _watch(self, rows: int, seconds: float) -> None:
        """Compare a settled chunk with the time per row the choice predicts."""
        if not self._monitor or self._expected is None or self._settled is None:
            return
        if rows < max(self.granularity, self._settled // 2) or seconds <= 0:
            return  # a small remainder chunk says little
        if self._cooldown > 0:
            self._cooldown -= 1
            return
        ratio = (seconds / rows) / self._expected
        self._off = self._off + 1 if (ratio > _DRIFT or ratio * _DRIFT < 1.0) else 0
        if self._off >= 2:
            self._off = 0
            s = self._settled
            sizes = [s] + [r for r in (self._round(s // 2), self._round(2 * s)) if r != s]
            sizes = list(dict.fromkeys(sizes))
            self._probe = sizes * _TRIES_PER_SIZE  # interleaved, so load shifts hit all sizes
            self._probe_times = {}
            self.revalidations += 1

    def _record_probe(self, rows: int, seconds: float) -> None:
        assert self._probe is not None
        if rows != self._probe[0]:
            return  # truncated: the call is ending; the probe is dropped with the sizer
        self._probe_times[rows] = min(seconds / rows, self._probe_times.get(rows, float("inf")))
        self._probe.pop(0)
        if self._probe:
            return
        self._probe = None
        self._settled, self._expected = _choose(self._probe_times)
        self._cooldown = _COOLDOWN
        if self.key is not None:
            _remember(self.key, disk.Choice(self._settled, self._expected, self.measured_row_bytes))


def _choose(per_row: Dict[int, float]) -> Tuple[int, float]:
    """The smallest size within :data:`_TIE` of the fastest per row, and its time per row:
    as fast, and the least memory."""
    best = min(per_row.values())
    rows = min(r for r, t in per_row.items() if t <= best * _TIE)
    return rows, per_row[rows]
