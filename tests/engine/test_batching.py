"""ChunkSizer: caps, calibration picks the fastest per-row size, caching."""
import pytest

from fastxai.engine.batching import ChunkSizer, clear_cache


def _drive(sizer: ChunkSizer, total: int, cost) -> list:
    done, sizes = 0, []
    while done < total:
        r = sizer.next_rows(total - done)
        sizer.record(r, cost(r))
        sizes.append(r)
        done += r
    return sizes


def test_picks_fastest_per_row_not_largest() -> None:
    clear_cache()
    # per-row cost is lowest at 32 rows and doubles above 128 (a CPU cache cliff)
    cost = lambda r: r * (1.0 if r <= 32 else 1.2 if r <= 128 else 2.0) + 0.5
    sizer = ChunkSizer(("k", 1), total_rows=5000, row_bytes=10)
    _drive(sizer, 5000, cost)
    assert sizer.settled_rows in (32, 64)
    again = ChunkSizer(("k", 1), total_rows=5000, row_bytes=10)
    assert again.settled_rows == sizer.settled_rows  # cached per key


def test_caps_by_max_batch_and_memory() -> None:
    clear_cache()
    s = ChunkSizer(None, total_rows=1000, row_bytes=100, max_batch=40, max_memory=3000)
    assert s.cap == 30
    assert max(_drive(s, 1000, lambda r: r * 1e-3)) <= 30
    with pytest.raises(ValueError, match="max_batch"):
        ChunkSizer(None, 10, 1, max_batch=0)


def test_granularity_keeps_whole_perturbations() -> None:
    clear_cache()
    s = ChunkSizer(None, total_rows=7 * 50, row_bytes=1, granularity=7)
    sizes = _drive(s, 350, lambda r: r * 1e-3)
    assert all(r % 7 == 0 for r in sizes)


def test_settled_size_spreads_the_rest_evenly() -> None:
    clear_cache()
    s = ChunkSizer(("even", 1), total_rows=1, row_bytes=1, granularity=64)
    s._settled = 1024  # as after calibration
    assert _drive(s, 3200, lambda r: r * 1e-3) == [832, 832, 768, 768]
    assert _drive(s, 1024, lambda r: r * 1e-3) == [1024]


def test_a_short_call_leaves_its_search_to_the_next_call() -> None:
    clear_cache()
    # flat per-row cost: the search runs the whole ladder; 300 rows per call cannot finish it
    cost = lambda r: r * 1e-3
    key = ("short", 1)
    first = _drive(ChunkSizer(key, total_rows=300, row_bytes=1), 300, cost)
    assert first == [8, 8, 16, 16, 32, 32, 64, 64, 60]  # the truncated 60 is not a measurement
    s2 = ChunkSizer(key, total_rows=300, row_bytes=1)
    assert s2.calibrating
    second = _drive(s2, 300, cost)
    assert second[:2] == [128, 128]  # resumes after 64, the last size timed twice
    calls = 2
    while ChunkSizer(key, total_rows=300, row_bytes=1).calibrating:  # 256 and 300 fit once a call
        _drive(ChunkSizer(key, total_rows=300, row_bytes=1), 300, cost)
        calls += 1
    assert calls == 6
    # every size costs the same per row: the largest wins (fewer calls), and it is cached
    assert ChunkSizer(key, total_rows=300, row_bytes=1).settled_rows == 300
    # without a key there is nothing to resume: a truncated chunk settles at once
    s = ChunkSizer(None, total_rows=300, row_bytes=1)
    _drive(s, 300, cost)
    assert not s.calibrating


def test_a_resumed_search_respects_this_calls_caps() -> None:
    clear_cache()
    cost = lambda r: r * 1e-3
    _drive(ChunkSizer(("caps", 1), total_rows=300, row_bytes=1), 300, cost)  # leaves sizes up to 64 timed
    small = ChunkSizer(("caps", 1), total_rows=300, row_bytes=1, max_batch=16)
    assert not small.calibrating and small.settled_rows == 16  # 64 was timed, but the cap is 16
    assert max(_drive(small, 300, cost)) <= 16
