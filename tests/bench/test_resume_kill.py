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


class _Killed(BaseException):
    """Stands for SIGKILL inside this process: nothing catches it, nothing is cleaned up."""


def test_kill_between_saved_maps_and_the_batch_part(tmp_path, syn_root, model_cache, monkeypatch):
    """Saved maps whose explain part was never written are used as they are (not recomputed) and the
    cell finishes with the saved call's timing."""
    import socket
    import sqlite3

    from fastxai.bench import methods, parts

    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", syn_root, str(out), model_cache, batch_size=3, max_samples=10,
                       save_maps=True)
    real = parts.write_part

    def die_at_batch_1_timing(cell_dir, rank, batch, columns):
        if batch == 1 and "n_units" in columns:  # the explain part of batch 1, after its maps part
            raise _Killed()
        return real(cell_dir, rank, batch, columns)

    monkeypatch.setattr(parts, "write_part", die_at_batch_1_timing)
    with pytest.raises(_Killed):
        run_bench(str(cfg), quiet=True)
    monkeypatch.setattr(parts, "write_part", real)
    con = sqlite3.connect(out / "store.sqlite")  # the owner is gone (a pid that cannot exist)
    con.execute("UPDATE cells SET owner = ? WHERE status = 'running'", (f"{socket.gethostname()}:4194305:x",))
    con.commit()
    con.close()
    saved = list((out / "maps").glob("*/r0-b1.parquet"))
    assert len(saved) == 1
    calls = []
    real_call = methods.Explainer.__call__

    def counting(self, x, target, ids):
        calls.append((self.name, list(ids)))
        return real_call(self, x, target, ids)

    monkeypatch.setattr(methods.Explainer, "__call__", counting)
    assert run_bench(str(cfg), quiet=True) == 0
    run = open_run(str(out))
    units = run.units()
    batch1 = list(units["sample_id"].iloc[3:6])
    assert ("Saliency", batch1) not in calls  # Saliency's batch 1 came from the saved maps
    assert [c for c in calls if c[0] == "Saliency"] == [("Saliency", list(units["sample_id"].iloc[6:9])),
                                                        ("Saliency", list(units["sample_id"].iloc[9:]))]
    sal = run.timings().query("method == 'Saliency' and stage == 'explain'")
    assert float(sal["seconds"].iloc[0]) > 0 and int(sal["n_samples"].iloc[0]) == len(units)
    assert len(run.maps("cnn", "Saliency", list(units["sample_id"]))) == len(units)
    assert not (out / "maps").exists() or not list((out / "maps").iterdir())  # map parts compacted and removed


def test_kill_between_compaction_and_marking_done(tmp_path, syn_root, model_cache, monkeypatch):
    """Compacted but not yet marked done: the parts are still there, so nothing is recomputed."""
    import socket
    import sqlite3

    from fastxai.bench import methods
    from fastxai.bench.store import Store

    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", syn_root, str(out), model_cache, batch_size=4, max_samples=8)
    real_finish = Store.finish

    def die_before_marking_saliency_done(self, key, *a, **k):
        if self.get(key)["method"] == "Saliency":
            raise _Killed()
        return real_finish(self, key, *a, **k)

    monkeypatch.setattr(Store, "finish", die_before_marking_saliency_done)
    with pytest.raises(_Killed):
        run_bench(str(cfg), quiet=True)
    monkeypatch.setattr(Store, "finish", real_finish)
    running = open_run(str(out)).cells().query("status == 'running'")
    assert set(running["method"]) == {"Saliency"}
    assert all((out / "parts" / k).is_dir() for k in running["key"])  # parts kept until marked done
    con = sqlite3.connect(out / "store.sqlite")
    con.execute("UPDATE cells SET owner = ? WHERE status = 'running'", (f"{socket.gethostname()}:4194305:x",))
    con.commit()
    con.close()
    calls = []
    real_call = methods.Explainer.__call__

    def counting(self, x, target, ids):
        calls.append(self.name)
        return real_call(self, x, target, ids)

    monkeypatch.setattr(methods.Explainer, "__call__", counting)
    assert run_bench(str(cfg), quiet=True) == 0
    assert "Saliency" not in calls
    run = open_run(str(out))
    assert set(run.cells()["status"]) == {"done"} and not list((out / "parts").iterdir())
    s = run.scores().query("method == 'Saliency' and metric == 'sparseness'")
    assert len(s) == len(run.units()) and not s.duplicated(["sample_id", "target"]).any()
