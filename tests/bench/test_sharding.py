"""torchrun with 2 gloo processes vs 1 process: identical evaluator results given identical maps."""
from __future__ import annotations

import subprocess

import numpy as np
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
