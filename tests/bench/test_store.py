"""SQLite cells (claims, leases, dead owners) and Parquet parts (atomic writes, compaction)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fastxai.bench import parts
from fastxai.bench.store import Store, cell_key, new_owner

pytest.importorskip("pyarrow")


def test_cell_key_is_canonical():
    assert cell_key({"a": 1, "b": [1, 2]}) == cell_key({"b": [1, 2], "a": 1})
    assert cell_key({"a": 1}) != cell_key({"a": 2})


def test_claim_lease_heartbeat_finish(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    s.ensure("k", "explain", "m", "x", {"x": 1})
    s.ensure("k", "explain", "m", "x", {"x": 1})  # idempotent
    me, other = new_owner(), new_owner()
    assert s.claim("k", me, 60) and s.status("k") == "running"
    assert not s.claim("k", other, 60)  # held by a live owner with a valid lease
    assert s.heartbeat("k", me, 60) and not s.heartbeat("k", other, 60)
    s.finish("k", me, 1.5, 10, {"m": 1})
    assert s.status("k") == "done" and not s.claim("k", other, 60)
    row = s.get("k")
    assert row["n_samples"] == 10 and row["attempts"] == 1


def test_expired_lease_is_taken_over(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    s.ensure("k", "explain", "m", "x", {})
    assert s.claim("k", new_owner(), 0.01)
    time.sleep(0.05)
    assert s.claim("k", new_owner(), 60) and s.get("k")["attempts"] == 2


def test_dead_owner_on_this_host_is_taken_over(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    s.ensure("k", "explain", "m", "x", {})
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    import socket

    assert s.claim("k", f"{socket.gethostname()}:{p.pid}:dead", 3600)
    assert s.claim("k", new_owner(), 3600)  # the lease is long, but its owner process is gone


def test_failed_cell_keeps_error_and_is_claimable(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    s.ensure("k", "explain", "m", "x", {})
    me = new_owner()
    s.claim("k", me, 60)
    s.fail("k", me, "ValueError: bad", "Traceback ...", 0.1)
    row = s.get("k")
    assert row["status"] == "failed" and row["error"] == "ValueError: bad" and row["traceback"]
    assert s.claim("k", new_owner(), 60)


def test_plan_orders_rows(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    for k in "abc":
        s.ensure(k, "explain", "m", k, {})
    s.set_plan(["c", "a"])
    assert [r["key"] for r in s.rows()] == ["c", "a"] and len(s.rows(plan_only=False)) == 3


def test_parts_atomic_dedup_and_compaction(tmp_path):
    d = str(tmp_path / "cell")
    parts.write_part(d, 0, 0, {"v": [1, 2]})
    parts.write_part(d, 1, 1, {"v": [3]})
    parts.write_part(d, 0, 1, {"v": [3]})  # the same batch written twice (a taken-over lease): kept once
    open(os.path.join(d, ".r0-b2.parquet.tmp-999"), "w").write("half")  # a killed writer's temp file
    assert parts.done_batches(d) == {0, 1}
    n = parts.compact(d, str(tmp_path / "res.parquet"))
    assert n == 3 and parts.read_table(str(tmp_path / "res.parquet"))["v"].tolist() == [1, 2, 3]
    parts.remove_parts(d)
    assert not os.path.exists(d)


def test_empty_batch_part_compacts_with_the_others(tmp_path):
    d = str(tmp_path / "cell")
    parts.write_part(d, 0, 0, {"v": [], "s": []})  # every image of the batch was unreadable
    parts.write_part(d, 0, 1, {"v": [1.5], "s": ["a"]})
    assert parts.compact(d, str(tmp_path / "r.parquet")) == 1
    assert parts.read_table(str(tmp_path / "r.parquet"))["s"].tolist() == ["a"]


def test_maps_parquet_parts_roundtrip_and_compaction(tmp_path):
    from fastxai.bench import maps_store

    run = str(tmp_path)
    g = torch.Generator().manual_seed(0)
    m0, m1 = torch.randn(2, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    maps_store.write_batch(run, "k", 0, 0, torch.tensor([0, 1]), ["a", "b"], m0, 1.5, 20, 10)
    maps_store.write_batch(run, "k", 1, 1, torch.tensor([2, 3, 4]), ["c", "c", "d"], m1, 2.5, 30, 0)
    saved = maps_store.SavedMaps(run, "k")
    got = saved.get(0, torch.tensor([0, 1]))
    assert torch.equal(got["maps"], m0) and (got["seconds"], got["rows"], got["grad_rows"]) == (1.5, 20, 10)
    assert torch.equal(saved.get(1, torch.tensor([2, 3, 4]))["maps"], m1)  # parts are exact (float32)
    assert saved.get(1, torch.tensor([2, 3])) is None and saved.get(2, torch.tensor([5])) is None
    assert maps_store.compact(run, "k", "float16") == 5
    units, sids, arr = maps_store.read_maps(run, "k", ["c", "a"])
    assert sorted(zip(units.tolist(), sids)) == [(0, "a"), (2, "c"), (3, "c")]
    assert np.array_equal(arr[sids.index("a")], m0[0].half().float().numpy())  # compacted in maps_dtype
    parts.remove_parts(maps_store.maps_dir(run, "k"))
    assert maps_store.SavedMaps(run, "k").get(1, torch.tensor([2])) is None  # lossy maps are never scored
    maps_store.write_batch(run, "k2", 0, 0, torch.tensor([0, 1]), ["a", "b"], m0, 1.5, 20, 10)
    maps_store.compact(run, "k2", "float32")
    parts.remove_parts(maps_store.maps_dir(run, "k2"))
    assert torch.equal(maps_store.SavedMaps(run, "k2").get(0, torch.tensor([1, 0]))["maps"], m0[[1, 0]])
    with pytest.raises(FileNotFoundError):
        maps_store.read_maps(run, "other", ["a"])


def _open_at_once(path, barrier, results):
    barrier.wait()
    try:
        Store(path).close()
        results.put("ok")
    except Exception as e:  # reported to the parent, which asserts on it
        results.put(repr(e))


def test_ranks_opening_a_new_store_at_once_all_succeed(tmp_path):
    """torchrun's ranks open the same new store.sqlite at the same moment: the switch to WAL
    raised 'database is locked' without SQLite's busy handler (10 of 40 rounds of 4 processes
    failed before the retry); real processes, a barrier to line them up."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    failures = []
    for i in range(20):
        path = str(tmp_path / f"s{i}" / "store.sqlite")
        os.makedirs(os.path.dirname(path))
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(4)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
        failures += [o for o in outcomes if o != "ok"]
    assert failures == []
