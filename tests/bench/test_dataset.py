"""Dataset tables: box rescaling, labels, patient splits, bad files, explain units."""
from __future__ import annotations

import numpy as np
import torch
import pandas as pd
import pytest

from fastxai.bench.config_load import load_config
from fastxai.bench.dataset import build_table, explain_units, patient_split
from fastxai.bench.errors import BadFileError
from tests.bench.conftest import write_config


def _folder(tmp_path, size=(40, 80)):
    from PIL import Image

    (tmp_path / "img").mkdir()
    rows = []
    for i in range(6):
        Image.fromarray(np.full(size, 10 * i, np.uint8)).save(tmp_path / "img" / f"{i}.png")
        base = {"image": f"img/{i}.png", "patient_id": f"p{i // 2}", "sex": "FM"[i % 2], "site": "A"}
        if i < 2:  # two boxes on image 0 and 1, one of class "b"
            rows.append({**base, "finding": "a", "x0": 0, "y0": 0, "x1": 40, "y1": 20})
            rows.append({**base, "finding": "b", "x0": 40, "y0": 20, "x1": 80, "y1": 40})
        else:
            rows.append(base)
    pd.DataFrame(rows).to_csv(tmp_path / "annotations.csv", index=False)
    cfg = write_config(tmp_path / "c.toml", str(tmp_path), str(tmp_path / "out"), str(tmp_path / "cache"))
    text = cfg.read_text().replace('labels = ["lesion"]', 'labels = ["a", "b"]')
    cfg.write_text(text.replace("train = 0.5, val = 0.2, test = 0.3", "train = 0.34, val = 0.33, test = 0.33"))
    return load_config(str(cfg))


def test_boxes_rescaled_with_the_image(tmp_path):
    cfg = _folder(tmp_path)
    t = build_table(cfg)
    b = t.boxes[(t.boxes["sample_id"] == "img/0.png") & (t.boxes["finding"] == "b")].iloc[0]
    # stored 40 x 80 (H x W) -> model input 32 x 32: x scaled by 32/80, y by 32/40
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((16.0, 16.0, 32.0, 32.0))
    assert list(t.samples["height0"]) == [40] * 6 and list(t.samples["width0"]) == [80] * 6


def test_labels_from_annotations_and_groups(tmp_path):
    cfg = _folder(tmp_path)
    t = build_table(cfg)
    assert list(t.samples["y_a"]) == [1, 1, 0, 0, 0, 0] and list(t.samples["y_b"]) == [1, 1, 0, 0, 0, 0]
    assert list(t.samples["sex"]) == ["F", "M"] * 3
    assert t.content_hash and t.split_hash("test")


def test_split_by_patient(tmp_path):
    cfg = _folder(tmp_path)
    t = build_table(cfg)
    per_patient = t.samples.groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all() and set(t.samples["split"]) == {"train", "val", "test"}
    a = patient_split([f"p{i}" for i in range(100)], {"train": 0.6, "test": 0.4}, seed=1)
    b = patient_split([f"p{i}" for i in range(100)][::-1], {"train": 0.6, "test": 0.4}, seed=1)
    assert a == b and sum(v == "train" for v in a.values()) == 60


def test_explain_units_modes(tmp_path):
    cfg = _folder(tmp_path)
    t = build_table(cfg)
    t.samples["split"] = "test"
    ann = explain_units(t, "test", "annotated")
    assert list(zip(ann["sample_id"], ann["label"])) == [("img/0.png", "a"), ("img/0.png", "b"),
                                                          ("img/1.png", "a"), ("img/1.png", "b")]
    assert len(explain_units(t, "test", "all")) == 12
    assert len(explain_units(t, "test", "positive")) == 4
    assert list(explain_units(t, "test", "all", max_samples=2)["unit"]) == [0, 1, 2, 3]


def test_bad_files_skipped_by_name_or_failing(tmp_path):
    cfg = _folder(tmp_path)
    (tmp_path / "img" / "3.png").write_bytes(b"broken")
    (tmp_path / "img" / "4.png").unlink()
    t = build_table(cfg)
    assert sorted(p.split("/")[-1] for p, _ in t.bad_files) == ["3.png", "4.png"]
    assert len(t.samples) == 4
    cfg.run.on_bad_file = "fail"
    with pytest.raises(BadFileError, match="3.png"):
        build_table(cfg)


def test_dicom_dataset_keeps_no_identifying_header_field(tmp_path):
    pytest.importorskip("pydicom")
    from tests.bench.test_imageio import _dicom

    (tmp_path / "d").mkdir()
    for i in range(3):
        _dicom(tmp_path / "d" / f"{i}.dcm", np.full((8, 8), 100 * i, np.uint16))
    pd.DataFrame({"image": [f"d/{i}.dcm" for i in range(3)], "patient_id": ["a", "b", "c"], "sex": "F",
                  "site": "A"}).to_csv(tmp_path / "annotations.csv", index=False)
    cfg = load_config(str(write_config(tmp_path / "c.toml", str(tmp_path), str(tmp_path / "o"), str(tmp_path),
                                       metrics=["sparseness"])))  # no boxes: map-only metrics
    t = build_table(cfg)
    text = t.samples.to_csv() + t.boxes.to_csv()
    assert "SECRET-123" not in text and "Doe" not in text and "19700101" not in text
    assert list(t.samples["height0"]) == [8, 8, 8]


def test_mask_column(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from fastxai.bench.stage_explain import _unit_masks

    (tmp_path / "img").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "img" / "0.png")
    m = np.zeros((16, 16), np.uint8)
    m[4:8, 8:12] = 255
    Image.fromarray(m).save(tmp_path / "img" / "0_mask.png")
    pd.DataFrame([{"image": "img/0.png", "finding": "lesion", "mask": "img/0_mask.png", "patient_id": "p",
                   "sex": "F", "site": "A"}]).to_csv(tmp_path / "annotations.csv", index=False)
    cfg = write_config(tmp_path / "c.toml", str(tmp_path), str(tmp_path / "o"), str(tmp_path))
    cfg.write_text(cfg.read_text().replace('group_columns = ["sex", "site"]',
                                           'group_columns = ["sex", "site"]\nmask_column = "mask"'))
    t = build_table(load_config(str(cfg)))
    assert list(t.samples["y_lesion"]) == [1]  # derived from the mask row
    ctx = SimpleNamespace(unit_masks={0: list(t.masks["mask"])})
    got = _unit_masks(ctx, torch.tensor([0]), (32, 32))
    assert got.shape == (1, 32, 32) and got[0, 8:16, 16:24].all() and int(got.sum()) == 64
