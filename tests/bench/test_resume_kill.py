"""A bench process killed with SIGKILL mid-stage resumes with no lost and no duplicated rows."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from fastxai.bench import open_run, run_bench
from tests.bench.conftest import PYTHON, subprocess_env, write_config

pytest.importorskip("pyarrow")

METHODS = '[[methods]]\nname = "Saliency"\n\n[[methods]]\nname = "InputXGradient"\n'


def _running_evaluate_parts(out) -> int:
    db = out / "store.sqlite"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        keys = [k for (k,) in con.execute("SELECT key FROM cells WHERE stage='evaluate' AND status='running'")]
        con.close()
    except sqlite3.Error:
        return 0
    return max([len([f for f in os.listdir(out / "parts" / k) if f.endswith(".parquet")])
                for k in keys if (out / "parts" / k).is_dir()] or [0])


def test_kill_9_mid_stage_then_resume(tmp_path, syn_root, model_cache, monkeypatch):
    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", syn_root, str(out), model_cache, methods=METHODS, batch_size=1, max_samples=6)
    proc = subprocess.Popen([PYTHON, "-m", "fastxai", "bench", str(cfg), "--quiet"], env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while _running_evaluate_parts(out) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"bench finished before it could be killed: {proc.stderr.read()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    cells = open_run(str(out)).cells()
    interrupted = cells[cells["status"] == "running"]
    assert len(interrupted) >= 1  # killed mid-cell: the lease is still held by the dead process
    parts_before = {(k, f) for k in interrupted["key"] if (out / "parts" / k).is_dir()
                    for f in os.listdir(out / "parts" / k) if f.endswith(".parquet")}
    assert parts_before

    import pyarrow.parquet as pq

    real, rewritten = pq.write_table, []

    def record(table, where, *a, **k):
        rewritten.append(os.path.basename(os.path.dirname(str(where))) + "/" + os.path.basename(str(where))[1:]
                         .rsplit(".tmp-", 1)[0])
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", record)
    assert run_bench(str(cfg), quiet=True) == 0  # takes over at once: the lease owner is dead
    assert not {f"{k}/{f}" for k, f in parts_before} & set(rewritten)  # finished batches were not redone
    run = open_run(str(out))
    cells = run.cells().set_index("key")
    assert set(cells["status"]) == {"done"}
    assert (cells.loc[list(interrupted["key"]), "attempts"] == 2).all()
    scores = run.scores()
    assert not scores.duplicated(["model", "method", "metric", "sample_id", "target"]).any()
    n_units = len(run.units())
    counts = scores[scores["metric"] == "sparseness"].groupby("method").size()
    assert len(counts) == 5 and (counts == n_units).all()
    curves = run.curves()
    assert not curves.duplicated(["method", "curve", "sample_id", "target", "step"]).any()
