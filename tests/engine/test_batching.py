"""ChunkSizer: caps, the search, caching, load robustness (re-validation) and the memory bound.

Every timing here comes from a fake clock (``clock_fn`` / the class-level ``ChunkSizer.now``
hook) and every memory reading from a fake probe: nothing depends on the machine's load.
"""
from typing import Callable, List

import pytest
import torch

from fastxai.engine import batching, memory
from fastxai.engine.batching import ChunkSizer, clear_cache

BIG = 1 << 40  # a memory bound that never binds


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def _drive(sizer: ChunkSizer, total: int, cost: Callable[[int], float]) -> List[int]:
    """Process ``total`` rows as the engine does (record the seconds ``cost(rows)``)."""
    done, sizes = 0, []
    while done < total:
        r = sizer.next_rows(total - done)
        sizer.record(r, cost(r))
        sizes.append(r)
        done += r
    return sizes


def _drive_clock(sizer: ChunkSizer, clock: FakeClock, total: int, cost: Callable[[int, int], float]) -> List[int]:
    """As the engine: t0 = clock(); work (the fake clock advances by cost(rows, chunk index));
    record(rows, clock() - t0)."""
    done, sizes = 0, []
    while done < total:
        r = sizer.next_rows(total - done)
        t0 = sizer.clock()
        clock.advance(cost(r, len(sizes)))
        sizer.record(r, sizer.clock() - t0)
        sizes.append(r)
        done += r
    return sizes


@pytest.fixture(autouse=True)
def _fresh() -> None:
    clear_cache()
    memory.forget()


def test_picks_fastest_per_row_not_largest() -> None:
    # per-row cost is lowest at 32 rows and doubles above 64 (a CPU cache cliff); a fixed
    # per-call cost of 4 row-units makes the small sizes slower per row
    cost = lambda r: r * (1.0 if r <= 64 else 2.0) + 4.0
    sizer = ChunkSizer(("k", 1), total_rows=5000, row_bytes=10, max_memory=BIG)
    sizes = _drive(sizer, 5000, cost)
    # per row: 8 -> 1.5, 16 -> 1.25, 32 -> 1.125, 64 -> 1.0625, 128 -> 2.03, 256 -> 2.02: two sizes
    # without gain after 64 end the search
    assert sizer.settled_rows == 64
    assert max(sizes) == 256
    again = ChunkSizer(("k", 1), total_rows=5000, row_bytes=10, max_memory=BIG)
    assert again.settled_rows == 64  # cached per key
    assert again.expected_seconds_per_row == pytest.approx(68.0 / 64)


def test_a_plateau_settles_on_the_smallest_equally_fast_size() -> None:
    # a flat cost per row (a conv net at 224^2 on a CPU): bigger chunks bring nothing but memory
    sizer = ChunkSizer(("flat", 1), total_rows=10_000, row_bytes=10, max_memory=BIG)
    sizes = _drive(sizer, 10_000, lambda r: r * 1e-3)
    assert sizer.settled_rows == 8
    assert max(sizes) == 32  # 16 and 32 brought no gain: the search stops there


def test_caps_by_max_batch_and_memory() -> None:
    s = ChunkSizer(None, total_rows=1000, row_bytes=100, max_batch=40, max_memory=3000)
    assert s.cap == 30
    assert max(_drive(s, 1000, lambda r: r * 1e-3)) <= 30
    with pytest.raises(ValueError, match="max_batch"):
        ChunkSizer(None, 10, 1, max_batch=0)
    with pytest.raises(ValueError, match="max_memory"):
        ChunkSizer(None, 10, 1, max_memory=0)


def test_granularity_keeps_whole_perturbations() -> None:
    s = ChunkSizer(None, total_rows=7 * 50, row_bytes=1, granularity=7, max_memory=BIG)
    sizes = _drive(s, 350, lambda r: r * 1e-3 + 1e-3)
    assert all(r % 7 == 0 for r in sizes)


def test_settled_size_spreads_the_rest_evenly() -> None:
    s = ChunkSizer(("even", 1), total_rows=1, row_bytes=1, granularity=64, max_memory=BIG)
    s._settled = 1024  # as after calibration
    assert _drive(s, 3200, lambda r: r * 1e-3) == [832, 832, 768, 768]
    assert _drive(s, 1024, lambda r: r * 1e-3) == [1024]


def test_a_short_call_leaves_its_search_to_the_next_call() -> None:
    # a fixed per-call cost: every doubling is clearly faster per row, so the search runs the
    # whole ladder, and 300 rows per call cannot finish it
    cost = lambda r: r * 1e-3 + 0.05
    key = ("short", 1)
    first = _drive(ChunkSizer(key, total_rows=300, row_bytes=1, max_memory=BIG), 300, cost)
    assert first == [8, 8, 16, 16, 32, 32, 64, 64, 60]  # the truncated 60 is not a measurement
    assert batching.unfinished_searches() == 1
    s2 = ChunkSizer(key, total_rows=300, row_bytes=1, max_memory=BIG)
    assert s2.calibrating
    second = _drive(s2, 300, cost)
    assert second[:2] == [128, 128]  # resumes after 64, the last size timed twice
    calls = 2
    while ChunkSizer(key, total_rows=300, row_bytes=1, max_memory=BIG).calibrating:
        _drive(ChunkSizer(key, total_rows=300, row_bytes=1, max_memory=BIG), 300, cost)
        calls += 1
    assert calls == 6  # 256 and 300 fit once a call
    # per row: 256 -> 1.195 ms, 300 -> 1.167 ms: within 3 %, the smaller (less memory) wins
    assert ChunkSizer(key, total_rows=300, row_bytes=1, max_memory=BIG).settled_rows == 256
    assert batching.unfinished_searches() == 0
    # without a key there is nothing to resume: a truncated chunk settles at once
    s = ChunkSizer(None, total_rows=300, row_bytes=1, max_memory=BIG)
    _drive(s, 300, cost)
    assert not s.calibrating


def test_a_resumed_search_respects_this_calls_caps() -> None:
    cost = lambda r: r * 1e-3 + 0.05
    _drive(ChunkSizer(("caps", 1), total_rows=300, row_bytes=1, max_memory=BIG), 300, cost)
    small = ChunkSizer(("caps", 1), total_rows=300, row_bytes=1, max_batch=16, max_memory=BIG)
    assert not small.calibrating and small.settled_rows == 16  # 64 was timed, but the cap is 16
    assert max(_drive(small, 300, cost)) <= 16


# --- load robustness -----------------------------------------------------------------------

def test_load_during_the_search_does_not_push_chunks_up() -> None:
    # a flat true cost, but another process slows the first four chunks (sizes 8 and 16) 3x:
    # 32 then looks 3x faster; 64 and 128 bring no further gain and end the search
    clock = FakeClock()
    s = ChunkSizer(("busy", 1), total_rows=4000, row_bytes=1, max_memory=BIG, clock_fn=clock)
    sizes = _drive_clock(s, clock, 4000, lambda r, i: r * 1e-3 * (3.0 if i < 4 else 1.0))
    assert s.settled_rows == 32
    assert max(sizes) == 128


def _settle_at_32(clock: FakeClock, key: tuple) -> ChunkSizer:
    # per-call overhead 0.02 s, 1 ms per row, a cache cliff above 32 rows
    base = lambda r, i: 0.02 + r * (1e-3 if r <= 32 else 3e-3)
    s = ChunkSizer(key, total_rows=100_000, row_bytes=1, max_memory=BIG, clock_fn=clock)
    done = 0
    while s.calibrating:
        done += _drive_clock_one(s, clock, base)
    assert s.settled_rows == 32
    assert s.expected_seconds_per_row == pytest.approx(0.052 / 32)
    return s


def _drive_clock_one(s: ChunkSizer, clock: FakeClock, cost: Callable[[int, int], float]) -> int:
    r = s.next_rows(10**9)
    t0 = s.clock()
    clock.advance(cost(r, 0))
    s.record(r, s.clock() - t0)
    return r


def test_one_slow_chunk_is_noise_two_trigger_a_revalidation() -> None:
    clock = FakeClock()
    s = _settle_at_32(clock, ("reval", 1))
    normal = lambda r, i: 0.02 + r * (1e-3 if r <= 32 else 3e-3)
    slow = lambda r, i: 3 * normal(r, i)
    assert _drive_clock_one(s, clock, slow) == 32
    assert _drive_clock_one(s, clock, normal) == 32  # one slow chunk: nothing happens
    assert not s.calibrating and s.revalidations == 0
    _drive_clock_one(s, clock, slow)
    _drive_clock_one(s, clock, slow)  # two in a row: re-measure
    assert s.calibrating and s.revalidations == 1
    # under the new load small chunks suffer less (the other process thrashes the cache):
    # 16 rows cost 1.5x, 32 and 64 rows 3x their quiet time
    loaded = lambda r, i: (1.5 if r <= 16 else 3.0) * normal(r, i)
    probe = [_drive_clock_one(s, clock, loaded) for _ in range(6)]
    assert probe == [32, 16, 64, 32, 16, 64]  # interleaved, twice each
    assert not s.calibrating
    assert s.settled_rows == 16
    assert s.expected_seconds_per_row == pytest.approx(1.5 * (0.02 + 16e-3) / 16)
    # the new choice is what the next call starts from
    assert ChunkSizer(("reval", 1), 10_000, 1, max_memory=BIG).settled_rows == 16


def test_chunks_far_faster_than_expected_are_revalidated_too() -> None:
    # the choice was made on a busy machine; now it is quiet and everything runs 3x faster
    clock = FakeClock()
    s = _settle_at_32(clock, ("quiet", 1))
    quiet = lambda r, i: (0.02 + r * (1e-3 if r <= 32 else 3e-3)) / 3
    _drive_clock_one(s, clock, quiet)
    _drive_clock_one(s, clock, quiet)
    assert s.revalidations == 1
    for _ in range(6):
        _drive_clock_one(s, clock, quiet)
    assert s.settled_rows == 32  # still the best size; the expectation follows the machine
    assert s.expected_seconds_per_row == pytest.approx(0.052 / 32 / 3)


def test_the_class_level_clock_hook_drives_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through run_perturbations: the model's forward advances a fake clock installed
    as ``ChunkSizer.now``; load arriving mid-call makes the engine re-measure."""
    from fastxai.attr import FeatureAblation

    clock = FakeClock()
    monkeypatch.setattr(ChunkSizer, "now", clock)
    sizes: List[int] = []

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            r = x.shape[0]
            sizes.append(r)
            slow = 3.0 if len(sizes) > 40 else 1.0  # a busy neighbour from the 41st call on
            clock.advance(slow * (0.02 + r * (1e-3 if r <= 32 else 3e-3)))
            return x.sum(1, keepdim=True)

    x = torch.randn(4, 600)
    FeatureAblation(Net()).attribute(x, target=0, perturbations_per_eval=None)
    calls = sizes[1:]  # the first forward is the unperturbed one
    assert 32 in calls and max(calls) <= 128
    i = 40 + 2 - 1  # two slow settled chunks after the load starts, then the probe
    assert calls[i : i + 6] == [32, 16, 64, 32, 16, 64]


def test_cuda_chunks_are_not_watched_without_a_synchronising_clock() -> None:
    s = ChunkSizer(("gpu", 1), 10_000, 1, max_memory=BIG, device=torch.device("cuda"))
    s._settled, s._expected = 32, 1e-3
    for _ in range(4):
        s.record(32, 1.0)  # launch times, not run times: ignored
    assert s.revalidations == 0 and not s.calibrating


# --- memory bound --------------------------------------------------------------------------

def test_default_memory_bound_is_a_fraction_of_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 400 << 20)
    monkeypatch.delenv("FASTXAI_MEMORY_FRACTION", raising=False)
    s = ChunkSizer(None, total_rows=10**6, row_bytes=1 << 20)
    assert s.memory_bound == 100 << 20 and s.cap == 100
    memory.forget()
    monkeypatch.setenv("FASTXAI_MEMORY_FRACTION", "0.5")
    assert ChunkSizer(None, total_rows=10**6, row_bytes=1 << 20).cap == 200
    # an explicit max_memory replaces the default bound
    assert ChunkSizer(None, total_rows=10**6, row_bytes=1 << 20, max_memory=1 << 30).cap == 1024
    memory.forget()
    monkeypatch.setenv("FASTXAI_MEMORY_FRACTION", "2")
    with pytest.raises(ValueError, match="FASTXAI_MEMORY_FRACTION"):
        ChunkSizer(None, total_rows=10, row_bytes=1)


def test_a_chunk_that_needs_more_memory_than_estimated_lowers_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # estimated 1 kB per row, really 5 kB: the fake probe raises the process's peak by that much
    state = {"used": 1000, "peak": 1000, "rows": 0}

    def probe(device=None):
        return state["used"], state["peak"]

    monkeypatch.setattr(ChunkSizer, "memory_probe", probe)
    clock = FakeClock()
    bound = 1_000_000
    s = ChunkSizer(("mem", 1), total_rows=10**6, row_bytes=1000, max_memory=bound, clock_fn=clock)
    assert s.cap == 1000
    sizes = []
    while s.calibrating:
        r = s.next_rows(10**6)
        t0 = s.clock()
        state["peak"] = max(state["peak"], state["used"] + 5000 * r)  # the chunk's peak
        clock.advance(0.05 + r * 1e-3)  # every doubling faster: the search would climb to 1000
        s.record(r, s.clock() - t0)
        sizes.append(r)
    assert s.measured_row_bytes == 5000
    assert s.cap == 200 and max(sizes) <= 200
    # the measured bytes per row travel with the choice: the next call starts capped
    assert ChunkSizer(("mem", 1), total_rows=10**6, row_bytes=1000, max_memory=bound).cap == 200


def test_measured_bytes_never_cut_the_cap_below_one_step_the_estimate_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller whose max_memory holds one whole step (granularity rows) by the estimate gets one
    whole step per chunk, whatever an earlier call measured: its errors and chunking do not
    depend on the process's (or the disk cache's) history."""
    state = {"used": 1000, "peak": 1000}
    monkeypatch.setattr(ChunkSizer, "memory_probe", lambda device=None: (state["used"], state["peak"]))
    clock = FakeClock()
    s = ChunkSizer(("step", 1), total_rows=64 * 8, row_bytes=1000, max_memory=64 * 1000, granularity=8,
                   clock_fn=clock)
    assert s.cap == 64
    while s.calibrating:
        r = s.next_rows(64 * 8)
        t0 = s.clock()
        state["peak"] = max(state["peak"], state["used"] + 50_000 * r)  # really 50x the estimate
        clock.advance(0.05 + r * 1e-3)
        s.record(r, s.clock() - t0)
    assert s.measured_row_bytes == 50_000
    assert s.cap == 8 and s.settled_rows == 8  # 64 kB / 50 kB = 1 row, but one step is 8
    again = ChunkSizer(("step", 1), total_rows=64 * 8, row_bytes=1000, max_memory=64 * 1000, granularity=8)
    assert again.cap == 8 and again.next_rows(64 * 8) == 8
    # where the estimate itself does not allow one step, the cap stays below it (the caller raises)
    assert ChunkSizer(None, 64 * 8, row_bytes=1000, max_memory=4000, granularity=8).cap == 4


def test_small_chunks_skip_the_memory_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(ChunkSizer, "memory_probe", lambda device=None: calls.append(1))
    s = ChunkSizer(None, total_rows=100, row_bytes=10, max_memory=BIG)
    s.clock()
    assert calls == []  # 8 rows x 10 bytes is nothing next to the bound
