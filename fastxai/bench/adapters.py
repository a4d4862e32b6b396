"""Common public annotation layouts -> the canonical bench CSV (one row per box).

``dataset.format``:
* ``csv``: the canonical schema (``fastxai.bench.dataset``), read as is.
* ``nih``: NIH ChestX-ray14's ``Data_Entry_2017(_v2020).csv`` (``dataset.csv``) and
  ``BBox_List_2017.csv`` (``dataset.nih_boxes``; optional). Images are ``images/<Image Index>``
  when that file exists under ``root``, else ``<Image Index>``. Gives ``patient_id``, ``sex``,
  ``age``, ``age_group`` (0-39, 40-59, 60-79, 80+), ``view_position``, ``y_<finding>`` from
  "Finding Labels"; boxes (x, y, w, h) -> (x0, y0, x1, y1); "Infiltrate" -> "Infiltration".
* ``coco``: a COCO-style JSON (``dataset.csv``): ``bbox`` [x, y, w, h] -> corners, category
  names as findings; extra per-image keys (``patient_id``, ``sex``, ...) become columns.
* ``voc``: a folder of Pascal VOC XML files (``dataset.csv`` names it): 1-based inclusive
  ``bndbox`` -> (xmin - 1, ymin - 1, xmax, ymax) (docs/evaluator.md); images under
  ``JPEGImages/`` when present.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

AGE_BINS = ((0, 40, "0-39"), (40, 60, "40-59"), (60, 80, "60-79"), (80, 1000, "80+"))


def age_group(age: float) -> str:
    """Age in years -> ``0-39`` / ``40-59`` / ``60-79`` / ``80+``."""
    for lo, hi, name in AGE_BINS:
        if lo <= age < hi:
            return name
    return "unknown"


def to_canonical(ds: Any) -> Any:
    """DataFrame in the canonical schema for ``dataset`` section ``ds``."""
    import pandas as pd

    path = os.path.join(ds.root, ds.csv)
    if ds.format == "csv":
        return pd.read_csv(path)
    if ds.format == "nih":
        boxes = os.path.join(ds.root, ds.nih_boxes) if ds.nih_boxes else ""
        return nih_to_canonical(path, boxes, ds.root)
    if ds.format == "coco":
        return coco_to_canonical(path)
    return voc_to_canonical(path, ds.root)


def _image_path(root: str, sub: str, name: str) -> str:
    return f"{sub}/{name}" if os.path.exists(os.path.join(root, sub, name)) else name


def nih_to_canonical(entry_csv: str, bbox_csv: str, root: str) -> Any:
    """NIH ChestX-ray14 data-entry (+ box) CSVs -> canonical rows."""
    import pandas as pd

    entry = pd.read_csv(entry_csv)
    entry.columns = [c.strip() for c in entry.columns]
    base = pd.DataFrame({
        "index": entry["Image Index"],
        "image": [_image_path(root, "images", n) for n in entry["Image Index"]],
        "patient_id": entry["Patient ID"].astype(str),
        "sex": entry["Patient Gender"].astype(str),
        "age": entry["Patient Age"],
        "age_group": [age_group(float(a)) for a in entry["Patient Age"]],
        "view_position": entry["View Position"].astype(str),
    })
    labels = entry["Finding Labels"].astype(str).str.split("|")
    for f in sorted({x for ls in labels for x in ls if x != "No Finding"}):
        base[f"y_{f}"] = [int(f in ls) for ls in labels]
    if not bbox_csv:
        return base.drop(columns="index")
    bb = pd.read_csv(bbox_csv)
    bb = bb.loc[:, [c for c in bb.columns if not c.startswith("Unnamed")]]
    bb.columns = ["index", "finding", "x", "y", "w", "h"]
    bb["finding"] = bb["finding"].replace({"Infiltrate": "Infiltration"})
    bb["x0"], bb["y0"] = bb["x"], bb["y"]
    bb["x1"], bb["y1"] = bb["x"] + bb["w"], bb["y"] + bb["h"]
    out = base.merge(bb[["index", "finding", "x0", "y0", "x1", "y1"]], on="index", how="left")
    return out.drop(columns="index")


def coco_to_canonical(json_path: str) -> Any:
    """COCO-style JSON -> canonical rows (images without annotations get one row without a box)."""
    import pandas as pd

    with open(json_path) as f:
        coco = json.load(f)
    cats = {c["id"]: c["name"] for c in coco.get("categories", [])}
    by_image: Dict[Any, List[Dict]] = {}
    for a in coco.get("annotations", []):
        by_image.setdefault(a["image_id"], []).append(a)
    rows = []
    for im in coco["images"]:
        extra = {k: v for k, v in im.items() if k not in ("id", "file_name", "width", "height")}
        base = {"image": im["file_name"], **extra}
        anns = by_image.get(im["id"], [])
        for a in anns:
            x, y, w, h = a["bbox"]
            rows.append({**base, "finding": cats.get(a["category_id"], str(a["category_id"])),
                         "x0": x, "y0": y, "x1": x + w, "y1": y + h})
        if not anns:
            rows.append(base)
    return pd.DataFrame(rows)


def voc_to_canonical(folder: str, root: str) -> Any:
    """A folder of VOC XML files -> canonical rows."""
    import xml.etree.ElementTree as ET

    import pandas as pd

    rows = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".xml"):
            continue
        tree = ET.parse(os.path.join(folder, name)).getroot()
        image = _image_path(root, "JPEGImages", tree.findtext("filename"))
        objs = tree.findall("object")
        for obj in objs:
            bb = obj.find("bndbox")
            x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            rows.append({"image": image, "finding": obj.findtext("name"),
                         "x0": x0 - 1, "y0": y0 - 1, "x1": x1, "y1": y1})
        if not objs:
            rows.append({"image": image})
    return pd.DataFrame(rows)
