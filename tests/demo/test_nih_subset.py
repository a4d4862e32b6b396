"""The bundled NIH ChestX-ray14 subset (fastxai/demo/assets/nih_cxr14_subset, made by
scripts/make_nih_subset.py): size, schema, patient splits, and — where ../shared/data exists —
that its pixels and boxes are the source's, downsampled 2x."""
import csv
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SUBSET = REPO / "fastxai" / "demo" / "assets" / "nih_cxr14_subset"
SOURCES = [REPO.parent / "shared" / "data" / "nih_cxr14_bbox", REPO.parent.parent / "shared" / "data" / "nih_cxr14_bbox"]


def rows():
    with open(SUBSET / "annotations.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_size_schema_and_images():
    from PIL import Image

    total = sum(p.stat().st_size for p in SUBSET.rglob("*") if p.is_file())
    assert total <= 5 * 2**20
    r = rows()
    images = sorted({x["image"] for x in r})
    assert len(images) == 300 and len(list((SUBSET / "images").glob("*.png"))) == 300
    for col in ("image", "finding", "x0", "y0", "x1", "y1", "sex", "age_group", "view_position", "patient_id", "split"):
        assert col in r[0]
    for x in r:
        x0, y0, x1, y1 = (float(x[k]) for k in ("x0", "y0", "x1", "y1"))
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
    with Image.open(SUBSET / images[0]) as im:
        assert im.size == (128, 128) and im.mode == "L"
    readme = (SUBSET / "README.md").read_text()
    assert "CVPR" in readme and "NIH Clinical Center" in readme and "nihcc.app.box.com" in readme


def test_split_by_patient():
    per = {}
    for x in rows():
        per.setdefault(x["patient_id"], set()).add(x["split"])
    assert all(len(v) == 1 for v in per.values())
    assert {s for v in per.values() for s in v} == {"train", "val", "test"}


@pytest.mark.realdata
def test_pixels_and_boxes_come_from_the_source():
    from PIL import Image

    src = next((p for p in SOURCES if (p / "annotations.csv").is_file()), None)
    if src is None:
        pytest.skip("../shared/data/nih_cxr14_bbox is absent")
    with open(src / "annotations.csv", newline="") as f:
        source = {(x["image"], x["finding"], x["box_id"]): x for x in csv.DictReader(f)}
    by_img = {}
    for x in source.values():
        by_img.setdefault(x["image"], []).append(x)
    r = rows()
    for img in sorted({x["image"] for x in r})[:20]:
        mine = sorted((x["finding"], float(x["x0"])) for x in r if x["image"] == img)
        theirs = sorted((x["finding"], round(float(x["x0"]) / 2, 2)) for x in by_img[img])
        assert [f for f, _ in mine] == [f for f, _ in theirs]
        np.testing.assert_allclose([v for _, v in mine], [v for _, v in theirs], atol=0.006)
        with Image.open(src / img) as a, Image.open(SUBSET / img) as b:
            big = np.asarray(a.convert("L"), dtype=np.float64)
            want = big.reshape(128, 2, 128, 2).mean((1, 3))
            assert np.abs(np.asarray(b, dtype=np.float64) - want).max() <= 1.0
