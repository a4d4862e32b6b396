"""``fastxai bench`` / ``fastxai profile`` from the command line (in-process through fastxai.cli.main)."""
from __future__ import annotations

import json


from fastxai.cli import main
from tests.bench.conftest import write_config


def test_check_ok_and_bad_config_exit_code(tmp_path, syn_root, model_cache, capsys):
    cfg = write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "o"), model_cache)
    assert main(["bench", str(cfg), "--check"]) == 0
    cfg.write_text(cfg.read_text().replace('name = "Saliency"', 'name = "Salincy"'))
    assert main(["bench", str(cfg), "--check"]) == 2
    err = capsys.readouterr().err
    assert "methods[0].name" in err and "did you mean 'Saliency'" in err and str(cfg) in err


def test_overrides_and_train_mode(tmp_path, syn_root, model_cache, capsys):
    from fastxai.bench.cli_bench import parse_overrides

    assert parse_overrides(["run.batch_size=8", "run.out=x", 'a.b="s"']) == {"run.batch_size": 8, "run.out": "x",
                                                                          "a.b": "s"}
    cfg = write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "o"), model_cache)
    assert main(["bench", "train", str(cfg)]) == 0
    assert model_cache in capsys.readouterr().out  # the cached weights' path


def test_profile_breakdown(tmp_path, syn_root, model_cache, capsys):
    cfg = write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "o"), model_cache)
    out = tmp_path / "p.json"
    trace = tmp_path / "trace.json"
    assert main(["profile", str(cfg), "--method", "Saliency", "--repeats", "1", "--json", str(out),
                 "--trace", str(trace)]) == 0
    text = capsys.readouterr().out
    assert "floor" in text and "overhead" in text
    p = json.loads(out.read_text())
    st = p["stages"]
    assert p["model_calls"] >= 1 and p["model_rows"] >= p["batch"]
    assert st["forward"] > 0 and st["backward"] > 0 and st["evaluator"] > 0
    assert st["forward"] + st["backward"] <= p["method_seconds"] + 1e-9
    assert p["floor_seconds"] > 0 and trace.exists() and "traceEvents" in trace.read_text()
    assert main(["profile", str(cfg), "--method", "Nope"]) == 2


def test_demo_generates_data_and_runs_the_built_in_config(tmp_path, capsys):
    """``fastxai bench --demo`` end to end, shrunk by overrides (the built-in config is otherwise unchanged)."""
    from fastxai.bench import open_run

    data, out = tmp_path / "data", tmp_path / "demo"
    assert main(["bench", "--demo", "--data-dir", str(data), "--check"]) == 0
    assert (data / "annotations.csv").exists() and (data / "demo.toml").exists()
    capsys.readouterr()
    sets = ["run.max_samples=3", "run.batch_size=4", "run.report=false", f'run.cache_dir="{tmp_path / "c"}"',
            "dataset.preprocess.size=32", "models[0].train.epochs=1", "groups.n_boot=10", "metrics.curve_steps=4",
            'methods=[{name = "Saliency"}]']
    argv = ["bench", "--demo", "--data-dir", str(data), "--out", str(out), "--quiet"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no progress bars, no summary
    run = open_run(str(out))
    assert set(run.cells()["status"]) == {"done"} and run.provenance["dataset"]["id"] == "fastxai-synthetic"
    assert {"sex", "age_group", "site"} <= set(run.aggregates()["group_feature"])
