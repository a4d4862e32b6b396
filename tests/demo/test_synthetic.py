"""The synthetic demo data: deterministic, in the bench schema, with the planted effects present."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fastxai.demo.synthetic import COLUMNS, write_synthetic


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    csv = write_synthetic(root, n_images=480, size=32, seed=0)
    return root, pd.read_csv(csv)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_deterministic_schema_and_patients(data, tmp_path):
    root, df = data
    assert list(df.columns) == COLUMNS
    write_synthetic(tmp_path, n_images=20, size=32, seed=5)
    again = tmp_path / "again"
    write_synthetic(again, n_images=20, size=32, seed=5)
    assert _digest(tmp_path / "images") == _digest(again / "images")
    img = df.drop_duplicates("image")
    assert len(img) == 480 and img.groupby("patient_id").size().max() >= 2
    assert (img.groupby("patient_id")[["sex", "age_group", "site"]].nunique() == 1).all().all()
    assert Image.open(root / img["image"].iloc[0]).size == (32, 32)
    boxes = df.dropna(subset=["x0"])
    assert (boxes["y_lesion"] == 1).all() and boxes.groupby("image").size().max() == 2
    assert ((boxes["x1"] > boxes["x0"]) & (boxes["x0"] >= 0) & (boxes["x1"] <= 32)).all()


def test_planted_shortcut_marker(data):
    root, df = data
    img = df.drop_duplicates("image")
    rate = img.groupby(["site", "y_lesion"])["marker"].mean()
    assert rate[("A", 1)] > 0.8 and rate[("A", 0)] < 0.25 and rate[("B", 0)] < 0.1 and rate[("B", 1)] < 0.1
    marked = img[img["marker"] == 1]["image"].iloc[0]
    arr = np.asarray(Image.open(root / marked))
    assert arr[1:3, 1:6].min() >= 240  # the bright marker in the top-left border band


def test_planted_sex_gap_and_imbalance(data):
    _, df = data
    pos = df[df["y_lesion"] == 1].drop_duplicates("image")
    c = pos.groupby("sex")["contrast"].mean()
    assert c["F"] == pytest.approx(0.45 * c["M"])
    img = df.drop_duplicates("image")
    share = img["age_group"].value_counts(normalize=True)
    assert share["80+"] < 0.06 and len(img[(img["sex"] == "F") & (img["age_group"] == "80+")]) < 10
    assert 0.3 < (img["sex"] == "F").mean() < 0.5
