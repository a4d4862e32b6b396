"""cheXlocalize's protocol: threshold tuned on validation mIoU, then test mIoU and hit rate with CIs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import fastxai.eval as fe
from fastxai.bench import open_run, run_bench
from fastxai.bench.chexlocalize import chexlocalize_tables
from fastxai.bench.config_load import validate_mapping
from tests.bench.conftest import write_config


def _cfg():
    return validate_mapping({"dataset": {"root": "x", "labels": ["a"]}, "models": [{"name": "m", "arch": "small_cnn"}],
                             "chexlocalize": {"enabled": True, "n_thresholds": 4, "n_boot": 200},
                             "groups": {"min_group_size": 2}})


def test_threshold_from_validation_then_test_miou():
    samples = pd.DataFrame({"sample_id": ["v1", "v2", "t1", "t2", "t3"], "split": ["val", "val", "test", "test", "test"],
                            "patient_id": ["p1", "p2", "p3", "p4", "p4"]})
    iou = {"v1": [0.1, 0.5, 0.3, 0.0], "v2": [0.2, 0.4, 0.6, 0.0], "t1": [0.9, 0.2, 0.1, 0.0],
           "t2": [0.8, 0.4, 0.3, 0.0], "t3": [0.7, 0.6, 0.5, 0.0]}
    curves = pd.DataFrame([{"model": "m", "method": "x", "curve": "chexlocalize_iou", "sample_id": s, "target": "a",
                            "step": k, "value": v} for s, vs in iou.items() for k, v in enumerate(vs)])
    scores = pd.DataFrame([{"model": "m", "method": "x", "metric": "hit_rate", "sample_id": s, "target": "a",
                            "value": h} for s, h in [("v1", 1.0), ("t1", 1.0), ("t2", 0.0), ("t3", 1.0)]])
    agg, thr = chexlocalize_tables(curves, scores, samples, _cfg())
    # val mIoU per threshold: 0.15, 0.45, 0.45, 0 -> first maximum, step 1, t = 0.25
    assert thr == [{"model": "m", "method": "x", "target": "a", "threshold": 0.25, "val_miou": pytest.approx(0.45),
                    "n_val": 2}]
    rows = {r["metric"]: r for r in agg}
    assert rows["chexlocalize_miou"]["value"] == pytest.approx(0.4)  # test IoUs at step 1: 0.2, 0.4, 0.6
    assert rows["chexlocalize_miou"]["n_patients"] == 2 and rows["chexlocalize_miou"]["n"] == 3
    assert rows["chexlocalize_hit_rate"]["value"] == pytest.approx(2 / 3)  # test units only
    assert rows["chexlocalize_miou"]["ci_low"] <= 0.4 <= rows["chexlocalize_miou"]["ci_high"]
    small = chexlocalize_tables(curves, scores, samples, _cfg().model_copy(update={"groups": _cfg().groups.model_copy(
        update={"min_group_size": 10})}))[0]
    assert all(np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) for r in small)  # 3 test units: no interval


def test_protocol_in_a_run(tmp_path, syn_root, model_cache):
    extra = ("\n[metrics.randomisation]\nenabled = true\nn_samples = 2\n"
             "\n[chexlocalize]\nenabled = true\nn_thresholds = 5\nn_boot = 100\n")
    cfg = write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "run"), model_cache, max_samples=4,
                       metrics=["hit_rate"], save_maps=True, extra=extra)
    cfg.write_text(cfg.read_text().replace("save_maps = true", 'save_maps = true\nmaps_dtype = "float32"'))
    assert run_bench(str(cfg), quiet=True) == 0
    run = open_run(str(tmp_path / "run"))
    units = run.units()
    assert set(units["split"]) == {"test", "val"}
    thr = run.chexlocalize_thresholds()
    assert set(thr["method"]) >= {"Saliency", "baseline:centre"}
    agg = run.aggregates()
    assert {"chexlocalize_miou", "chexlocalize_hit_rate"} <= set(agg["metric"])
    # the stored IoU curve of one annotated unit equals fastxai.eval on its saved map
    boxes = run.boxes()
    sid = next(s for s in units["sample_id"] if s in set(boxes["sample_id"]))
    m = run.maps("cnn", "Saliency", [sid])
    b = torch.tensor(boxes.loc[boxes["sample_id"] == sid, ["x0", "y0", "x1", "y1"]].to_numpy(), dtype=torch.float32)
    ref = fe.overlap_at_thresholds(m.float(), [b], thresholds=[k / 5 for k in range(5)], image_size=(32, 32))[0]
    c = run.curves()
    got = c[(c["curve"] == "chexlocalize_iou") & (c["method"] == "Saliency") & (c["sample_id"] == sid)]
    assert np.array_equal(got.sort_values("step")["value"].to_numpy(), ref.numpy())
    # the randomisation check ran on the first 2 units, for the methods (not the baselines)
    r = run.scores()
    r = r[r["metric"] == "randomisation_spearman"]
    assert set(r["method"]) == {"Saliency"} and set(r["sample_id"]) == set(units["sample_id"][:2])
    assert r["value"].between(-1, 1).all()
