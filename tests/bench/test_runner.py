"""End to end: a tiny run, its reader tables, resume, changed configs, bad files, a full disk."""
from __future__ import annotations

import errno
import os

import pytest

from fastxai.bench import open_run, run_bench
from tests.bench.conftest import write_config

pytest.importorskip("pyarrow")
pytest.importorskip("pydantic")


def _run(tmp_path, syn_root, model_cache, name="run", **kw):
    cfg = write_config(tmp_path / f"{name}.toml", syn_root, str(tmp_path / name), model_cache, **kw)
    return run_bench(str(cfg), quiet=True), tmp_path / name, cfg


def test_run_end_to_end_and_reader(ref_run):
    run = open_run(str(ref_run))
    cells = run.cells()
    assert set(cells["status"]) == {"done"}
    assert set(cells["stage"]) == {"predict", "explain", "evaluate", "aggregate"}
    units = run.units()
    assert len(units) == 10 and set(units["split"]) == {"test"}
    scores = run.scores()
    assert set(scores["method"]) == {"Saliency", "baseline:centre", "baseline:random", "baseline:edges"}
    # one row per (method, metric, unit) where measurable: no duplicates
    assert not scores.duplicated(["model", "method", "metric", "sample_id", "target"]).any()
    per = scores[scores["metric"] == "deletion_auc"].groupby("method").size()
    assert (per == 10).all()
    annotated = set(run.boxes()["sample_id"]) & set(units["sample_id"])
    pg = scores[(scores["metric"] == "pointing_game") & (scores["method"] == "Saliency")]
    assert set(pg["sample_id"]) == annotated
    curves = run.curves()
    assert set(curves["curve"]) == {"deletion", "insertion"} - {"insertion"}
    assert (curves.groupby(["method", "sample_id"]).size() == 5).all()  # curve_steps + 1 points
    preds = run.predictions()
    assert len(preds) == 10 and preds["y_score"].between(0, 1).all()
    agg = run.aggregates()
    overall = agg[(agg["group_feature"] == "all") & (agg["method"] == "baseline:centre")
                  & (agg["metric"] == "deletion_auc")]
    assert len(overall) == 1
    mean = scores[(scores["method"] == "baseline:centre") & (scores["metric"] == "deletion_auc")]["value"].mean()
    assert overall["value"].iloc[0] == pytest.approx(mean, rel=1e-12)
    assert overall["ci_low"].iloc[0] <= mean <= overall["ci_high"].iloc[0]
    assert {"sex", "site"} <= set(agg["group_feature"])
    assert {"tpr", "fpr", "accuracy"} <= set(agg.loc[agg["method"] == "model", "metric"])
    t = run.timings()
    assert set(t["stage"]) == {"predict", "explain", "evaluate"}
    sal = t[(t["method"] == "Saliency") & (t["stage"] == "explain")].iloc[0]
    assert sal["model_rows"] >= 10 and sal["grad_rows"] >= 10 and sal["floor_seconds"] > 0
    maps = run.maps("cnn", "baseline:centre", list(units["sample_id"][:3]))
    assert tuple(maps.shape) == (3, 32, 32)
    imgs = run.images(list(units["sample_id"][:2]))
    assert tuple(imgs.shape) == (2, 1, 32, 32)
    assert run.provenance["n_units"] == 10 and run.provenance["models"]["cnn"]["weights_hash"]


def test_rerun_skips_done_cells_and_changed_config_makes_new_cells(tmp_path, syn_root, model_cache):
    rc, out, cfg = _run(tmp_path, syn_root, model_cache)
    assert rc == 0
    before = open_run(str(out)).cells().set_index("key")
    assert run_bench(str(cfg), quiet=True) == 0
    after = open_run(str(out)).cells().set_index("key")
    assert (after["attempts"] == before["attempts"]).all()  # nothing re-ran
    assert (after["finished"] == before["finished"]).all()
    write_config(cfg, syn_root, str(out), model_cache, metrics=["pointing_game", "sparseness"])
    assert run_bench(str(cfg), quiet=True) == 0
    run = open_run(str(out))
    now = run.cells()
    ev_old = set(before.index[before["stage"] == "evaluate"])
    ev_new = set(now.loc[now["stage"] == "evaluate", "key"])
    assert ev_old.isdisjoint(ev_new)  # new metric config -> new evaluate cells
    ex_old = set(before.index[before["stage"] == "explain"])
    assert set(now.loc[now["stage"] == "explain", "key"]) == ex_old  # explain cells reused
    assert set(run.scores()["metric"]) == {"pointing_game", "sparseness"}  # no mixing with old rows
    assert len(run.cells(all_cells=True)) > len(now)


def test_failed_cell_is_recorded_and_rerun(tmp_path, syn_root, model_cache, monkeypatch):
    from fastxai.bench import methods

    real = methods.Explainer.__call__

    def broken(self, x, target, ids):
        if self.name == "Saliency":
            raise RuntimeError("boom in Saliency")
        return real(self, x, target, ids)

    monkeypatch.setattr(methods.Explainer, "__call__", broken)
    rc, out, cfg = _run(tmp_path, syn_root, model_cache)
    assert rc == 1
    cells = open_run(str(out)).cells()
    failed = cells[cells["status"] == "failed"]
    assert set(failed["method"]) == {"Saliency"} and "boom in Saliency" in failed["error"].iloc[0]
    assert (cells.loc[cells["method"].str.startswith("baseline"), "status"] == "done").all()
    monkeypatch.setattr(methods.Explainer, "__call__", real)
    assert run_bench(str(cfg), quiet=True) == 0
    cells = open_run(str(out)).cells()
    assert set(cells["status"]) == {"done"}
    assert (cells.loc[cells["method"] == "Saliency", "attempts"] == 2).all()


def _final_name(tmp: str) -> str:
    d, base = os.path.split(tmp)
    return os.path.join(d, base[1:].rsplit(".tmp-", 1)[0])


def test_disk_full_loses_at_most_the_batch_in_flight(tmp_path, syn_root, model_cache, monkeypatch):
    import pyarrow.parquet as pq

    real = pq.write_table
    written, failed_at = [], []

    def full_after_seven_parts(table, where, *a, **k):
        if "parts" in str(where):
            if len(written) >= 7:
                failed_at.append(_final_name(str(where)))
                raise OSError(errno.ENOSPC, "No space left on device")
            real(table, where, *a, **k)
            written.append(_final_name(str(where)))
            return None
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", full_after_seven_parts)
    rc, out, cfg = _run(tmp_path, syn_root, model_cache, batch_size=2)
    assert rc == 1 and len(failed_at) == 1
    cells = open_run(str(out)).cells()
    failed = cells[cells["status"] == "failed"]
    assert len(failed) == 2 and "no space" in failed["error"].iloc[0].lower()  # the explain + evaluate cell
    left = [os.path.join(d, f) for d, _, fs in os.walk(out / "parts") for f in fs]
    assert not [f for f in left if ".tmp-" in f]  # no half-written part
    done_keys = set(cells.loc[cells["status"] == "done", "key"])
    for path in written:  # every finished batch survived (as a part, or compacted into its cell's results)
        cell = os.path.basename(os.path.dirname(path))
        assert os.path.exists(path) or cell in done_keys
    later = cells[cells["method"].str.startswith("baseline")]
    assert (later["status"] == "pending").all()  # the run stopped instead of failing every later cell
    monkeypatch.setattr(pq, "write_table", real)
    rewritten = []

    def record(table, where, *a, **k):
        if "parts" in str(where):
            rewritten.append(_final_name(str(where)))
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", record)
    assert run_bench(str(cfg), quiet=True) == 0
    parts_before = {p for p in written if os.path.basename(os.path.dirname(p)) not in done_keys}
    assert failed_at[0] in rewritten and not (parts_before & set(rewritten))  # only the lost batch re-ran
    scores = open_run(str(out)).scores()
    assert not scores.duplicated(["method", "metric", "sample_id", "target"]).any()
    assert (scores[scores["metric"] == "sparseness"].groupby("method").size() == 8).all()


def test_bad_files_skip_or_fail(tmp_path, syn_root, model_cache):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(syn_root, root)
    import pandas as pd

    df = pd.read_csv(root / "annotations.csv")
    first = df["image"].iloc[0]
    (root / first).write_bytes(b"not a png")
    rc, out, cfg = _run(tmp_path, str(root), model_cache, max_samples=4)
    assert rc == 0
    bad = pd.read_csv(out / "bad_files.csv")
    assert any(first in p for p in bad["path"])
    assert first not in set(open_run(str(out)).samples()["sample_id"])
    cfg2 = write_config(tmp_path / "fail.toml", str(root), str(tmp_path / "fail"), model_cache, max_samples=0)
    text = cfg2.read_text().replace("seed = 0\n", 'seed = 0\non_bad_file = "fail"\n', 1)
    cfg2.write_text(text)
    from fastxai.bench.errors import BadFileError

    with pytest.raises(BadFileError, match=first.split("/")[-1]):
        run_bench(str(cfg2), quiet=True)


def test_unreadable_pixels_mid_cell_fail_keeps_finished_batches_then_skip(tmp_path, syn_root, model_cache,
                                                                          monkeypatch):
    """A file whose header reads but whose pixels do not: ``fail`` stops the cells naming it and keeps the
    batches before it; resuming with ``skip`` redoes nothing finished and lists the file."""
    import shutil

    import pandas as pd
    import pyarrow.parquet as pq

    from fastxai.bench.config_load import load_config
    from fastxai.bench.dataset import build_table, explain_units

    root = tmp_path / "data"
    shutil.copytree(syn_root, root)
    cfg = write_config(tmp_path / "c.toml", str(root), str(tmp_path / "run"), model_cache, batch_size=1,
                       max_samples=4, metrics=["sparseness"])
    cfg.write_text(cfg.read_text().replace("seed = 0\n", 'seed = 0\non_bad_file = "fail"\n', 1))
    victim = explain_units(build_table(load_config(str(cfg))), "test", "all", 4)["sample_id"].iloc[2]
    data = (root / victim).read_bytes()
    (root / victim).write_bytes(data[:60])  # signature + IHDR intact: the header scan passes
    assert run_bench(str(cfg), quiet=True) == 1
    run = open_run(str(tmp_path / "run"))
    cells = run.cells()
    failed = cells[cells["status"] == "failed"]
    assert {"predict", "explain", "evaluate"} <= set(failed["stage"])
    assert all(victim.split("/")[-1] in e for e in failed["error"])
    kept = {}
    for key in failed["key"]:
        d = tmp_path / "run" / "parts" / key
        kept[key] = sorted(os.listdir(d)) if d.is_dir() else []
        assert [f.split("-b")[1] for f in kept[key]] == ["0.parquet", "1.parquet"]  # the batches before it
    real, rewritten = pq.write_table, []

    def record(table, where, *a, **k):
        rewritten.append(str(where))
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", record)
    cfg.write_text(cfg.read_text().replace('on_bad_file = "fail"', 'on_bad_file = "skip"'))
    assert run_bench(str(cfg), quiet=True) == 0
    assert not [w for w in rewritten for key, fs in kept.items() for f in fs if f"/{key}/.{f}.tmp-" in w]
    run = open_run(str(tmp_path / "run"))
    assert set(run.cells()["status"]) == {"done"}
    assert any(victim in p for p in pd.read_csv(tmp_path / "run" / "bad_files.csv")["path"])
    scores = run.scores()
    assert victim not in set(scores["sample_id"])
    per_method = scores[scores["metric"] == "sparseness"].groupby("method")["sample_id"]
    assert (per_method.nunique() == 3).all() and (per_method.size() == 3).all()


def test_summary_table_lists_methods_next_to_baselines(ref_run):
    from types import SimpleNamespace

    from fastxai.bench.summary import summary_text

    text = summary_text(SimpleNamespace(run_dir=str(ref_run), bad_files=[]))
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("cnn ")}
    assert set(rows) == {"Saliency", "baseline:centre", "baseline:random", "baseline:edges"}
    assert "pointing_game" in text.splitlines()[0] and "failed" not in text
    n_cells = len(open_run(str(ref_run)).cells())
    assert f"cells: done {n_cells}" in text
