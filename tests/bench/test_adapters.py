"""NIH ChestX-ray14, COCO and VOC layouts -> the canonical rows."""
from __future__ import annotations

import json

import pandas as pd

from fastxai.bench.adapters import age_group, coco_to_canonical, nih_to_canonical, voc_to_canonical


def test_nih_entry_and_box_csvs(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "00000001_000.png").write_bytes(b"")
    pd.DataFrame({"Image Index": ["00000001_000.png", "00000002_000.png"],
                  "Finding Labels": ["Cardiomegaly|Effusion", "No Finding"], "Follow-up #": [0, 0],
                  "Patient ID": [1, 2], "Patient Age": [58, 81], "Patient Gender": ["M", "F"],
                  "View Position": ["PA", "AP"]}).to_csv(tmp_path / "entry.csv", index=False)
    pd.DataFrame({"Image Index": ["00000001_000.png"] * 2, "Finding Label": ["Cardiomegaly", "Infiltrate"],
                  "Bbox [x": [10.0, 1.0], "y": [20.0, 2.0], "w": [30.0, 3.0], "h]": [40.0, 4.0],
                  "Unnamed: 6": [None, None]}).to_csv(tmp_path / "bbox.csv", index=False)
    df = nih_to_canonical(str(tmp_path / "entry.csv"), str(tmp_path / "bbox.csv"), str(tmp_path))
    first = df[df["image"] == "images/00000001_000.png"]
    assert list(first["finding"]) == ["Cardiomegaly", "Infiltration"]
    assert list(first[["x0", "y0", "x1", "y1"]].iloc[0]) == [10.0, 20.0, 40.0, 60.0]
    second = df[df["image"] == "00000002_000.png"].iloc[0]  # not under images/: the bare name
    assert second["age_group"] == "80+" and second["sex"] == "F" and pd.isna(second["finding"])
    assert list(df.drop_duplicates("image")["y_Effusion"]) == [1, 0]
    assert age_group(39.9) == "0-39" and age_group(40) == "40-59"


def test_coco_json(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10, "patient_id": "p1"},
                       {"id": 2, "file_name": "b.png", "width": 10, "height": 10, "patient_id": "p2"}],
            "annotations": [{"image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]}],
            "categories": [{"id": 7, "name": "nodule"}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    df = coco_to_canonical(str(tmp_path / "c.json"))
    a = df[df["image"] == "a.png"].iloc[0]
    assert (a["finding"], a["x0"], a["y0"], a["x1"], a["y1"], a["patient_id"]) == ("nodule", 1, 2, 4, 6, "p1")
    assert pd.isna(df[df["image"] == "b.png"].iloc[0]["finding"])


def test_voc_xml_one_based_inclusive(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "x.jpg").write_bytes(b"")
    (tmp_path / "ann" / "x.xml").write_text(
        "<annotation><filename>x.jpg</filename><object><name>mass</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>")
    df = voc_to_canonical(str(tmp_path / "ann"), str(tmp_path))
    r = df.iloc[0]
    assert (r["image"], r["finding"], r["x0"], r["y0"], r["x1"], r["y1"]) == ("JPEGImages/x.jpg", "mass", 0, 1, 10, 20)
