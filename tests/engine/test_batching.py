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
