"""torchrun with 2 gloo processes vs 1 process: identical evaluator results given identical maps."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from fastxai.bench import open_run
from fastxai.bench.states import ScoreState
from tests.bench.conftest import PYTHON, REF_METRICS, subprocess_env, write_config

pytest.importorskip("pyarrow")


def test_score_state_is_order_and_shard_independent():
    g = torch.Generator().manual_seed(0)
    units = torch.randperm(50, generator=g)
    values = torch.randn(50, 3, generator=g, dtype=torch.float64) * 1e3
    values[::7, 1] = float("nan")
    one = ScoreState(["a", "b", "c"])
    one.update(units, values)
    a, b = ScoreState(["a", "b", "c"]), ScoreState(["a", "b", "c"])
    a.update(units[1::2], values[1::2])
    b.update(units[::2], values[::2])
    merged = b.merge(a).compute()
    assert merged == one.compute()  # bitwise: rows are sorted by unit before reducing
    dup = ScoreState(["a", "b", "c"])
    dup.update(units[:3], values[:3])
    dup.update(units[:1], values[:1])
    with pytest.raises(RuntimeError, match="twice"):
        dup.compute()
    with pytest.raises(ValueError, match="metrics"):  # states of other metric columns never merge
        ScoreState(["a", "b", "c"]).merge(ScoreState(["a", "c", "b"]))


def test_torchrun_two_ranks_matches_one_process(tmp_path, syn_root, model_cache, ref_run):
    two = write_config(tmp_path / "two.toml", syn_root, str(tmp_path / "two"), model_cache, batch_size=3,
                       max_samples=10, save_maps=True, metrics=REF_METRICS)
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "fastxai", "bench",
           str(two), "--quiet"]
    res = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    r1, r2 = open_run(str(ref_run)), open_run(str(tmp_path / "two"))
    assert r2.provenance["world_size"] == 2 and r1.provenance["world_size"] == 1
    ranks = _ranks_that_wrote(tmp_path / "two")
    key = ["model", "method", "metric", "sample_id", "target"]
    s1, s2 = (r.scores().sort_values(key).reset_index(drop=True) for r in (r1, r2))
    assert len(s1) == len(s2) and (s1[key].values == s2[key].values).all()
    base = s1["method"].str.startswith("baseline:")
    # identical maps (the baselines): bitwise identical per-sample scores, summaries and aggregate tables
    assert np.array_equal(s1.loc[base, "value"].to_numpy(), s2.loc[base, "value"].to_numpy())
    c1, c2 = (r.cells().set_index(["stage", "model", "method"]) for r in (r1, r2))
    for idx in c1.index:
        if idx[0] == "evaluate" and idx[2].startswith("baseline:"):
            assert c1.loc[idx, "summary"]["metrics"] == c2.loc[idx, "summary"]["metrics"]
    akey = ["model", "method", "metric", "target", "group_feature", "group"]
    a1, a2 = (r.aggregates().sort_values(akey).reset_index(drop=True) for r in (r1, r2))
    ab = a1["method"].str.startswith("baseline:")
    for col in ("value", "ci_low", "ci_high", "n"):
        assert np.array_equal(a1.loc[ab, col].to_numpy(), a2.loc[ab, col].to_numpy(), equal_nan=True), col
    # a real method: maps agree within 1e-5 of their scale (thread counts differ between the runs)
    ids = list(r1.units()["sample_id"])
    m1, m2 = r1.maps("cnn", "Saliency", ids), r2.maps("cnn", "Saliency", ids)
    assert torch.allclose(m1, m2, rtol=1e-5, atol=1e-5 * float(m1.abs().max()))
    assert ranks == {0, 1}  # both ranks explained batches


def _ranks_that_wrote(run_dir):
    import glob

    import pyarrow.parquet as pq

    ranks = set()
    for path in glob.glob(str(run_dir / "results" / "*.parquet")):
        t = pq.read_table(path)
        if "rank" in t.column_names:
            ranks |= set(t.column("rank").to_pylist())
    return ranks


class _Killed(BaseException):
    """Stands for SIGKILL inside this process."""


@pytest.mark.slow
def test_one_process_run_killed_then_resumed_on_two_ranks(tmp_path, syn_root, model_cache, ref_run, monkeypatch):
    """Batches finished by 1 process are kept when 2 ranks resume (each rank re-reads the finished
    batches it is dealt), and the merged evaluator result is bitwise the uninterrupted run's."""
    import socket
    import sqlite3

    from fastxai.bench import parts, run_bench

    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", syn_root, str(out), model_cache, batch_size=3, max_samples=10,
                       save_maps=True, metrics=REF_METRICS)
    real = parts.write_part

    def die_in_centre_batch_2(cell_dir, rank, batch, columns):
        if batch == 2 and "kind" in columns:
            con = sqlite3.connect(out / "store.sqlite")
            method = con.execute("SELECT method FROM cells WHERE key = ?", (cell_dir.rsplit("/", 1)[-1],)).fetchone()
            con.close()
            if method == ("baseline:centre",):
                raise _Killed()
        return real(cell_dir, rank, batch, columns)

    monkeypatch.setattr(parts, "write_part", die_in_centre_batch_2)
    with pytest.raises(_Killed):
        run_bench(str(cfg), quiet=True)
    monkeypatch.setattr(parts, "write_part", real)
    con = sqlite3.connect(out / "store.sqlite")
    con.execute("UPDATE cells SET owner = ? WHERE status = 'running'", (f"{socket.gethostname()}:4194305:x",))
    con.commit()
    con.close()
    run = open_run(str(out))
    key = run.cells().query("stage == 'evaluate' and method == 'baseline:centre'")["key"].iloc[0]
    before = sorted(os.listdir(out / "parts" / key))
    assert before == ["r0-b0.parquet", "r0-b1.parquet"]
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "fastxai", "bench",
           str(cfg), "--quiet"]
    res = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    r1, r2 = open_run(str(ref_run)), open_run(str(out))
    c1, c2 = (r.cells().set_index(["stage", "method"]) for r in (r1, r2))
    assert c2.loc[("evaluate", "baseline:centre"), "attempts"] == 2
    assert c1.loc[("evaluate", "baseline:centre"), "summary"]["metrics"] == \
        c2.loc[("evaluate", "baseline:centre"), "summary"]["metrics"]
    k = ["method", "metric", "sample_id", "target"]
    s1, s2 = (r.scores().query("method == 'baseline:centre'").sort_values(k).reset_index(drop=True) for r in (r1, r2))
    assert (s1[k].values == s2[k].values).all() and np.array_equal(s1["value"].to_numpy(), s2["value"].to_numpy())
    timing = pd.read_parquet(out / "results" / f"{c2.loc[('explain', 'baseline:centre'), 'key']}.parquet")
    assert sorted(timing["batch"]) == [0, 1, 2, 3] and set(timing.loc[timing["batch"] >= 2, "rank"]) == {0, 1}
