"""A bench process killed with SIGKILL mid-stage resumes with no lost and no duplicated rows."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from fastxai.bench import open_run, run_bench
from tests.bench.conftest import PYTHON, subprocess_env, write_config

pytest.importorskip("pyarrow")

METHODS = '[[methods]]\nname = "Saliency"\n\n[[methods]]\nname = "InputXGradient"\n'


# The child pauses at a fixed point (after the 2nd batch part of the second method's evaluate cell,
# with the first method's cells already done) and the test kills it there with SIGKILL: the kill
# point does not depend on timing or machine load.
CHILD = r"""
import os, sqlite3, sys, time
from fastxai.bench import parts
real, seen = parts.write_part, {}
def write_part(cell_dir, rank, batch, columns):
    path = real(cell_dir, rank, batch, columns)
    key = os.path.basename(cell_dir)
    con = sqlite3.connect(os.path.join(os.path.dirname(os.path.dirname(cell_dir)), "store.sqlite"))
    row = con.execute("SELECT stage, method FROM cells WHERE key = ?", (key,)).fetchone()
    con.close()
    if row == ("evaluate", "InputXGradient"):
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            open(sys.argv[2], "w").close()
            time.sleep(3600)
    return path
parts.write_part = write_part
from fastxai.cli import main
sys.exit(main(["bench", sys.argv[1], "--quiet"]))
"""


def test_kill_9_mid_stage_then_resume(tmp_path, syn_root, model_cache, monkeypatch):
    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", syn_root, str(out), model_cache, methods=METHODS, batch_size=1, max_samples=6)
    paused = tmp_path / "paused"
    log = tmp_path / "child.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([PYTHON, "-c", CHILD, str(cfg), str(paused)], env=subprocess_env(),
                                stdout=subprocess.DEVNULL, stderr=err)
    guard = time.time() + 900  # only against a hung child; the kill point itself is not timed
    while not paused.exists() and proc.poll() is None and time.time() < guard:
        time.sleep(0.05)
    assert paused.exists() and proc.poll() is None, f"bench never reached the kill point: {log.read_text()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    cells = open_run(str(out)).cells()
    interrupted = cells[cells["status"] == "running"]
    assert set(interrupted["method"]) == {"InputXGradient"}  # killed mid-cell: the dead process holds the lease
    assert (cells.loc[cells["method"] == "Saliency", "status"] == "done").all()
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
