"""Sensitive features -> group codes: missing values (None, NaN, pd.NA, NaT, nullable pandas dtypes)
raise naming the feature and the row count, or become a named group on request; unorderable
mixtures raise naming the feature (never a numpy / pandas TypeError); empty intersections are
NaN counts in the fairlearn-compatible tables, as fairlearn, and skipped by every aggregate."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastxai.eval.groups as GR
from fastxai.eval.errors import InputError
from fastxai.eval.groups.encoding import encode_groups

pd = pytest.importorskip("pandas")
fl = pytest.importorskip("fairlearn.metrics")


def _missing_columns():
    return {
        "None": ["a", None, "b", "a"],
        "float NaN": np.array([1.0, np.nan, 2.0, 1.0]),
        "object NaN": np.array(["a", np.nan, "b", "a"], dtype=object),
        "pd.NA": ["a", pd.NA, "b", "a"],
        "string dtype": pd.Series(["a", None, "b", "a"], dtype="string"),
        "Int64": pd.Series([1, None, 2, 1], dtype="Int64"),
        "boolean": pd.Series([False, None, True, False], dtype="boolean"),
        "Float64": pd.Series([1.5, None, 2.5, 1.5], dtype="Float64"),
        "category": pd.Series(pd.Categorical(["a", None, "b", "a"])),
        "NaT": pd.Series(pd.to_datetime(["2020-01-01", None, "2020-01-02", "2020-01-01"])),
        "torch NaN": torch.tensor([1.0, float("nan"), 2.0, 1.0]),
    }


@pytest.mark.parametrize("kind", list(_missing_columns()))
def test_missing_values_raise_naming_feature_and_rows(kind) -> None:
    col = _missing_columns()[kind]
    with pytest.raises(InputError, match=r"sensitive feature 'site' has missing values .* in 1 of 4 rows"):
        encode_groups({"site": col})
    with pytest.raises(InputError, match=r"'site' has missing values"):  # the same through the public API
        GR.group_report([1, 0, 1, 0], [1, 1, 0, 0], sensitive_features=pd.DataFrame({"site": col}))
    codes, groups, _ = encode_groups({"site": col}, missing_group="unknown")
    assert groups[-1] == ("unknown",) and len(groups) == 3
    assert codes.tolist() == [0, 2, 1, 0]


def test_missing_group_is_a_real_group_and_must_be_new() -> None:
    rep = GR.group_report([1, 0, 1, 1], [1, 0, 0, 1], sensitive_features={"sex": ["F", None, "M", None]},
                          metrics=["accuracy", "count"], missing_group="not recorded")
    assert rep.groups == [("F",), ("M",), ("not recorded",)]
    assert rep.by_group["count"].tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(InputError, match="already a level"):
        encode_groups(["F", None, "unknown"], missing_group="unknown")


@pytest.mark.parametrize("col", [["a", 1, "b"], np.array(["a", 1.5, "b"], dtype=object),
                                 pd.Series(["a", 2, "c"], dtype=object)])
def test_unorderable_mixture_raises_naming_the_feature(col) -> None:
    with pytest.raises(InputError, match="'site' mixes values that cannot be ordered"):
        encode_groups({"site": col})


def test_lists_are_not_coerced_to_strings() -> None:
    """np.asarray(['a', 1]) would turn 1 into '1' and silently merge it with a real '1'."""
    with pytest.raises(InputError, match="mixes"):
        encode_groups({"f": ["1", 1]})


def test_empty_intersection_count_is_nan_as_fairlearn_and_skipped() -> None:
    g = np.random.default_rng(3)
    n = 300
    sex = g.choice(["F", "M"], n)
    age = g.choice(["old", "young"], n)
    age[sex == "M"] = "young"  # (M, old) is empty
    y = (g.random(n) < 0.5).astype(int)
    p = (g.random(n) < 0.5).astype(int)
    sf = pd.DataFrame({"sex": sex, "age": age})
    ours = GR.group_report(y, p, sensitive_features=sf, metrics=["count", "accuracy"])
    mf = fl.MetricFrame(metrics={"count": fl.count, "accuracy": lambda a, b: float(np.mean(a == b))}, y_true=y,
                        y_pred=p, sensitive_features=sf)
    np.testing.assert_allclose(ours.by_group["count"].numpy(), mf.by_group["count"].to_numpy(dtype=float),
                               equal_nan=True)
    assert np.isnan(ours.to_pandas().loc[("M", "old"), "count"])
    assert ours.group_min()["count"] == float(mf.group_min()["count"])  # the empty group is skipped
    assert ours.difference()["count"] == pytest.approx(float(mf.difference()["count"]))
    assert ours.ratio()["count"] == pytest.approx(float(mf.ratio()["count"]))
    assert ours.std()["count"] == pytest.approx(float(np.nanstd(mf.by_group["count"].to_numpy(dtype=float))))
    assert ours.empty_groups() == [("M", "old")] and ours.to_dict()["empty_groups"] == [["M", "old"]]
    assert "M, old (empty)" in str(ours)
    assert ours.counts.tolist()[2] == 0  # the people-facing row count stays 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = GR.scores_by_group(np.ones(n), sensitive_features=sf, n_boot=5, ci_quantiles=[0.5], random_state=0)
    assert np.isnan(s.by_group["count"][2]) and s.by_group["count"][0] > 0
    assert np.isnan(s.by_group_ci()["count"][0][2])
