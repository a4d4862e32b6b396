"""fastxai.report.audit: representation, intersections, annotation, image properties, flags."""
import numpy as np
import pandas as pd
import pytest

from fastxai.report.audit import audit_dataset, image_stats


def table():
    s = pd.DataFrame({
        "sample_id": [f"s{i}" for i in range(10)],
        "patient_id": ["a", "a", "b", "c", "d", "e", "f", "g", "h", "h"],
        "split": ["train", "train", "train", "test", "test", "test", "test", "train", "train", "test"],
        "sex": ["F", "F", "M", "M", "M", "M", "M", "M", "M", "M"],
        "view_position": ["AP", "PA", "PA", "PA", "AP", "AP", "PA", "PA", "PA", None],
        "label": [1, 0, 1, 1, 0, 0, 1, 0, 1, 1],
        "height": 100, "width": 200,
    })
    b = pd.DataFrame({"sample_id": ["s0", "s0", "s2", "s3"], "finding": "x",
                      "x0": [0, 10, 0, 0], "y0": [0, 10, 0, 0], "x1": [10, 30, 20, 5], "y1": [10, 30, 10, 4]})
    return s, b


def test_counts_prevalence_annotation_and_box_size():
    s, b = table()
    a = audit_dataset(s, b, group_columns=["sex", "view_position"], min_group_size=3)
    assert (a.n_images, a.n_patients, a.n_boxes) == (10, 8, 4)
    sex = a.groups["sex"].set_index("group")
    assert sex.loc["F", "images"] == 2 and sex.loc["F", "patients"] == 1 and sex.loc["M", "patients"] == 7
    assert sex.loc["F", "prevalence label"] == pytest.approx(0.5)
    assert sex.loc["M", "prevalence label"] == pytest.approx(5 / 8)
    assert sex.loc["F", "annotated"] == pytest.approx(0.5)
    assert sex.loc["F", "boxes / image"] == pytest.approx(1.0)
    # s0: mean box area (100 + 400) / 2 = 250 of 20000 px
    assert sex.loc["F", "box area (median)"] == pytest.approx(250 / 20000)
    assert sex.loc["M", "box area (median)"] == pytest.approx(np.median([200 / 20000, 20 / 20000]))
    assert sex.loc["F", "view position"] == "AP 1, PA 1"
    view = a.groups["view_position"].set_index("group")
    assert view.loc["(missing)", "images"] == 1


def test_flags_small_underrepresented_intersections_and_leakage():
    s, b = table()
    a = audit_dataset(s, b, group_columns=["sex", "view_position"], min_group_size=3)
    small = {(f.feature, f.group) for f in a.flagged("too_small")}
    assert ("sex", "F") in small and ("view_position", "(missing)") in small and ("sex", "M") not in small
    assert {(f.feature, f.group) for f in a.flagged("under_represented")} >= {("sex", "F")}
    inter = {f.group for f in a.flagged("intersection")}
    assert "F × (missing)" in inter and "M × PA" not in inter
    leak = a.flagged("leakage")
    assert len(leak) == 1 and leak[0].n == 1  # patient h is in train and test
    sp = a.splits.set_index("split")
    assert sp.loc["train", "patients"] == 4 and sp.loc["test", "images / patient (max)"] == 1


def test_crosstab_matches_pandas():
    s, b = table()
    a = audit_dataset(s, b, group_columns=["sex", "view_position"], min_group_size=3)
    ct = a.intersections[("sex", "view_position")]
    assert ct.loc["M", "PA"] == 5 and ct.loc["F", "AP"] == 1 and int(ct.values.sum()) == 10


def test_image_stats():
    x = np.zeros((2, 1, 4, 6))
    x[1] = 1.0
    x[1, 0, 0, 0] = 0.0
    st = image_stats(["a", "b"], x)
    assert list(st["height"]) == [4, 4] and list(st["width"]) == [6, 6]
    assert st["intensity_mean"].tolist() == pytest.approx([0.0, 23 / 24])
    assert st["intensity_std"].iloc[1] == pytest.approx(np.std(x[1]))


def test_positives_with_a_box_and_the_full_intersection():
    s, b = table()
    s["site"] = ["A", "B"] * 5
    b = b.assign(finding=["lesion", "lesion", "other", "lesion"])
    s = s.rename(columns={"label": "y_lesion"})
    a = audit_dataset(s, b, group_columns=["sex", "view_position", "site"], min_group_size=3)
    sex = a.groups["sex"].set_index("group")
    # F positives: s0 (lesion boxes) -> 1.0; M positives s2 (only an "other" box), s3 (lesion), s6, s8, s9 -> 1 / 5
    assert sex.loc["F", "positives with a box, y_lesion"] == pytest.approx(1.0)
    assert sex.loc["M", "positives with a box, y_lesion"] == pytest.approx(0.2)
    full = a.full
    assert len(full) == 2 * 3 * 2 and int(full["images"].sum()) == 10
    assert full["images"].is_monotonic_increasing
    row = full[(full["sex"] == "M") & (full["view_position"] == "PA") & (full["site"] == "B")]
    assert int(row["images"].iloc[0]) == int(((s["sex"] == "M") & (s["view_position"] == "PA") & (s["site"] == "B")).sum())
