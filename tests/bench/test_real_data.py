"""Optional: ``configs/nih_cxr14.toml`` end to end from the CLI on the shared NIH ChestX-ray14 box
subset, shrunk by ``--set`` overrides (6 + 6 images, 32 px, a width-4 CNN, 1 epoch, 2 methods).
Skips when the data is absent (``../shared/data`` beside the checkout, ``/work/shared/data`` or
``$FASTXAI_DATA``)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from fastxai.cli import main
from tests.bench.conftest import REPO

pytest.importorskip("pyarrow")


def _data_root() -> str:
    for base in (os.environ.get("FASTXAI_DATA", ""), str(REPO.parent / "shared" / "data"), "/work/shared/data"):
        if base and os.path.exists(os.path.join(base, "nih_cxr14_bbox", "annotations.csv")):
            return os.path.join(base, "nih_cxr14_bbox")
    return ""


ROOT = _data_root()
pytestmark = [pytest.mark.realdata, pytest.mark.slow,
              pytest.mark.skipif(not ROOT, reason="NIH ChestX-ray14 box subset absent")]


def test_nih_config_end_to_end_from_the_cli(tmp_path, capsys):
    from fastxai.bench import open_run

    out = tmp_path / "run"
    sets = {"dataset.root": f'"{ROOT}"', "run.out": f'"{out}"', "run.cache_dir": f'"{tmp_path / "cache"}"',
            "run.max_samples": "6", "run.batch_size": "4", "run.report": "false", "dataset.preprocess.size": "32",
            "models[0].params.width": "4", "models[0].train.epochs": "1", "groups.n_boot": "20",
            "chexlocalize.n_boot": "20", "metrics.curve_steps": "4",
            "methods": '[{name = "Saliency"}, {name = "LayerGradCam", layer = "features.6"}]'}
    argv = ["bench", str(REPO / "configs" / "nih_cxr14.toml"), "--quiet"]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0, capsys.readouterr().err[-3000:]
    run = open_run(str(out))
    assert set(run.cells()["status"]) == {"done"}
    assert run.provenance["dataset"]["id"] == "nih_cxr14_bbox" and run.provenance["dataset"]["n_samples"] == 880
    samples = run.samples()
    assert samples.groupby("patient_id")["split"].nunique().max() == 1  # split by patient
    boxes = run.boxes()
    assert boxes[["x0", "y0", "x1", "y1"]].to_numpy().max() <= 32 + 1e-9  # rescaled from 256 px to the input
    scores = run.scores()
    assert set(scores["method"]) == {"Saliency", "LayerGradCam", "baseline:centre", "baseline:random",
                                     "baseline:edges"}
    pg = scores[scores["metric"] == "pointing_game"]["value"].to_numpy()
    assert len(pg) and np.isin(pg, [0.0, 1.0]).all()
    units = run.units()
    # every unit with a box of its class has one pointing-game score per method
    assert (pg.size == 5 * len(units))
    agg = run.aggregates()
    assert {"sex", "age_group", "view_position"} <= set(agg["group_feature"])
    assert {"chexlocalize_miou", "chexlocalize_hit_rate"} <= set(agg["metric"])
    assert not run.chexlocalize_thresholds().empty
