"""GroupReport vs fairlearn 0.15 MetricFrame / derived metrics and scikit-learn (1e-6)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastxai.eval.groups as GR
from fastxai.eval.groups.bootstrap import multiplicities
from fastxai.eval.errors import InputError
from fastxai.eval.groups.encoding import encode_groups
from tests.eval.metric_tester import check_batching

fl = pytest.importorskip("fairlearn.metrics")
skm = pytest.importorskip("sklearn.metrics")

ATOL = 1e-6


def _data(n=600, seed=0):
    g = np.random.default_rng(seed)
    sex = g.choice(["F", "M"], n)
    age = g.choice(["<40", "40-60", ">60"], n, p=[0.3, 0.4, 0.3])
    # empty intersection: no (M, >60)
    age[(sex == "M") & (age == ">60")] = "40-60"
    y = (g.random(n) < 0.4).astype(int)
    s = np.clip(0.35 * y + 0.65 * g.random(n), 0, 1).round(3)  # ties
    w = g.random(n) + 0.5
    return y, s, sex, age, w


def _thr(fn, **kw):
    def f(y_true, y_pred, **k):
        return fn(y_true, (np.asarray(y_pred) >= 0.5).astype(int), **kw, **k)
    f.__name__ = fn.__name__
    return f


FL_METRICS = {
    "accuracy": _thr(skm.accuracy_score),
    "balanced_accuracy": _thr(skm.balanced_accuracy_score),
    "tpr": _thr(fl.true_positive_rate),
    "fnr": _thr(fl.false_negative_rate),
    "fpr": _thr(fl.false_positive_rate),
    "tnr": _thr(fl.true_negative_rate),
    "ppv": _thr(skm.precision_score, zero_division=0.0),
    "selection_rate": _thr(fl.selection_rate),
    "auroc": skm.roc_auc_score,
    "brier": skm.brier_score_loss,
    "nll": lambda yt, yp, **k: skm.log_loss(yt, yp, labels=[0, 1], **k),
}


def _compare(ours: GR.GroupReport, mf, names) -> None:
    for m in names:
        np.testing.assert_allclose(ours.by_group[m].numpy(), mf.by_group[m].to_numpy(dtype=float),
                                   atol=ATOL, rtol=0, equal_nan=True, err_msg=m)
        assert ours.overall[m] == pytest.approx(float(mf.overall[m]), abs=ATOL), m
        for meth in ("between_groups", "to_overall"):
            assert ours.difference(meth)[m] == pytest.approx(float(mf.difference(meth)[m]), abs=ATOL, nan_ok=True)
            assert ours.ratio(meth)[m] == pytest.approx(float(mf.ratio(meth)[m]), abs=ATOL, nan_ok=True)
        assert ours.group_min()[m] == pytest.approx(float(mf.group_min()[m]), abs=ATOL)
        assert ours.group_max()[m] == pytest.approx(float(mf.group_max()[m]), abs=ATOL)


@pytest.mark.parametrize("weighted", [False, True])
def test_metricframe_parity_two_features(weighted) -> None:
    y, s, sex, age, w = _data()
    sw = w if weighted else None
    sf = {"sex": sex, "age": age}
    params = {m: {"sample_weight": w} for m in FL_METRICS} if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fl.MetricFrame(metrics=FL_METRICS, y_true=y, y_pred=s, sensitive_features=sf, sample_params=params)
    ours = GR.group_report(y, y_score=s, sensitive_features=sf, sample_weight=sw, metrics=list(FL_METRICS))
    assert ours.groups == list(mf.by_group.index)
    assert torch.isnan(ours.by_group["accuracy"][ours.groups.index(("M", ">60"))])  # empty intersection
    _compare(ours, mf, list(FL_METRICS))
    assert list(ours.to_pandas().index) == list(mf.by_group.index)


def test_zero_division_nan_warning_and_fairlearn_value() -> None:
    y, s, sex, _, _ = _data(200, seed=1)
    y[sex == "F"] = 0  # group F has no positives
    with pytest.warns(GR.GroupMetricWarning, match=r"tpr is undefined \(no positives\).*F \(n=\d+\)"):
        ours = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["tpr", "fnr", "auroc"])
    assert torch.isnan(ours.by_group["tpr"][0]) and torch.isnan(ours.by_group["auroc"][0])
    mf = fl.MetricFrame(metrics={"tpr": FL_METRICS["tpr"]}, y_true=y, y_pred=s, sensitive_features=sex)
    assert float(mf.by_group["tpr"].iloc[0]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", GR.GroupMetricWarning)
        filled = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["tpr"], zero_division=0.0)
    _compare(filled, mf, ["tpr"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = skm.roc_auc_score(y[sex == "F"], s[sex == "F"])
    assert np.isnan(sk)  # sklearn 1.9: NaN for a one-class group, as ours


def test_min_group_size_warns() -> None:
    y, s, sex, _, _ = _data(100, seed=2)
    sex = sex.copy()
    sex[:3] = "X"
    with pytest.warns(GR.GroupMetricWarning, match=r"X \(n=3\)"):
        r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["accuracy"], min_group_size=5)
    assert torch.isnan(r.by_group["accuracy"][2]) and r.counts[2] == 3


@pytest.mark.parametrize("weighted", [False, True])
def test_derived_fairness_metrics(weighted) -> None:
    y, s, sex, age, w = _data(500, seed=3)
    yp = (s >= 0.5).astype(int)
    sw = w if weighted else None
    sf = np.stack([sex, age], 1)
    kw = dict(sensitive_features=sf, sample_weight=sw)
    assert GR.demographic_parity_difference(y, yp, **kw) == pytest.approx(fl.demographic_parity_difference(y, yp, **kw), abs=ATOL)
    assert GR.demographic_parity_ratio(y, yp, **kw) == pytest.approx(fl.demographic_parity_ratio(y, yp, **kw), abs=ATOL)
    for agg in ("worst_case", "mean"):
        for meth in ("between_groups", "to_overall"):
            ours = GR.equalized_odds_difference(y, yp, method=meth, agg=agg, zero_division=0.0, **kw)
            assert ours == pytest.approx(fl.equalized_odds_difference(y, yp, method=meth, agg=agg, **kw), abs=ATOL)
            ours = GR.equalized_odds_ratio(y, yp, method=meth, agg=agg, zero_division=0.0, **kw)
            assert ours == pytest.approx(fl.equalized_odds_ratio(y, yp, method=meth, agg=agg, **kw), abs=ATOL)
    assert GR.equal_opportunity_difference(y, yp, zero_division=0.0, **kw) == pytest.approx(
        fl.equal_opportunity_difference(y, yp, **kw), abs=ATOL)


def _ece_fixed_reference(y, p, n_bins):
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.searchsorted(edges, p, side="right") - 1  # bucketize(right=True) - 1; p == 1 -> bin n
    e = 0.0
    for k in np.unique(b):
        sel = b == k
        e += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return e


def _ece_pdcut_reference(y, p, n_bins=10):
    import pandas as pd

    df = pd.DataFrame({"p": p, "y": y, "b": pd.cut(p, n_bins)})
    return sum(len(d) / len(p) * abs(d.p.mean() - d.y.mean()) for _, d in df.groupby("b", observed=True))


def test_calibration_per_group() -> None:
    y, s, sex, _, _ = _data(400, seed=4)
    s = s.copy()
    s[:5] = 1.0  # own bin in the torchmetrics binning
    s[5:8] = 0.0
    r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["ece", "ece_data_range", "brier", "nll"], n_bins=15)
    for i, gname in enumerate(["F", "M"]):
        sel = sex == gname
        assert float(r.by_group["ece"][i]) == pytest.approx(_ece_fixed_reference(y[sel], s[sel], 15), abs=1e-12)
        assert float(r.by_group["ece_data_range"][i]) == pytest.approx(_ece_pdcut_reference(y[sel], s[sel]), abs=1e-12)
        assert float(r.by_group["brier"][i]) == pytest.approx(skm.brier_score_loss(y[sel], s[sel]), abs=1e-12)
        assert float(r.by_group["nll"][i]) == pytest.approx(skm.log_loss(y[sel], s[sel], labels=[0, 1]), abs=1e-9)
    assert r.overall["ece"] == pytest.approx(_ece_fixed_reference(y, s, 15), abs=1e-12)


def test_bootstrap_reproduces_fairlearn() -> None:
    y, s, sex, age, _ = _data(240, seed=5)
    q = [0.1, 0.5, 0.9]
    metrics = {k: FL_METRICS[k] for k in ("accuracy", "selection_rate", "tpr", "auroc")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fl.MetricFrame(metrics=metrics, y_true=y, y_pred=s, sensitive_features={"sex": sex, "age": age},
                            n_boot=12, ci_quantiles=q, random_state=7)
        ours = GR.group_report(y, y_score=s, sensitive_features={"sex": sex, "age": age}, metrics=list(metrics),
                               n_boot=12, ci_quantiles=q, random_state=7, zero_division=0.0)
    for m in metrics:
        for i in range(len(q)):
            assert ours.overall_ci()[m][i] == pytest.approx(float(mf.overall_ci[i][m]), abs=ATOL)
            np.testing.assert_allclose(ours.by_group_ci()[m][i], mf.by_group_ci[i][m].to_numpy(float),
                                       atol=ATOL, equal_nan=True)
            for meth in ("between_groups", "to_overall"):
                assert ours.difference_ci(meth)[m][i] == pytest.approx(float(mf.difference_ci(method=meth)[i][m]), abs=ATOL)
                assert ours.ratio_ci(meth)[m][i] == pytest.approx(float(mf.ratio_ci(method=meth)[i][m]), abs=ATOL)
            assert ours.group_min_ci()[m][i] == pytest.approx(float(mf.group_min_ci()[i][m]), abs=ATOL)


def test_stratified_bootstrap_keeps_group_sizes() -> None:
    codes = torch.tensor([0] * 7 + [1] * 3 + [2] * 11)[torch.randperm(21, generator=torch.Generator().manual_seed(0))]
    chunks = list(multiplicities(21, 10, random_state=1, mode="stratified", codes=codes, chunk=4))
    M = torch.cat(chunks)
    assert M.shape == (10, 21)
    for k, size in enumerate([7, 3, 11]):
        assert torch.all(M[:, codes == k].sum(1) == size)
    again = torch.cat(list(multiplicities(21, 10, random_state=1, mode="stratified", codes=codes, chunk=3)))
    assert torch.equal(M, again)  # chunk-size independent


def test_user_callable_and_score_metric() -> None:
    y, s, sex, _, w = _data(300, seed=6)
    f1 = lambda yt, yp, **k: skm.f1_score(yt, yp, **k)  # noqa: E731
    f1.__name__ = "f1"
    ap = GR.ScoreMetric(skm.average_precision_score)
    r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=[f1, ap], sample_weight=w)
    mf = fl.MetricFrame(metrics={"f1": _thr(skm.f1_score), "ap": skm.average_precision_score}, y_true=y,
                        y_pred=s, sensitive_features=sex, sample_params={"f1": {"sample_weight": w}, "ap": {"sample_weight": w}})
    np.testing.assert_allclose(r.by_group["f1"].numpy(), mf.by_group["f1"].to_numpy(float), atol=ATOL)
    np.testing.assert_allclose(r.by_group["average_precision_score"].numpy(), mf.by_group["ap"].to_numpy(float), atol=ATOL)


def test_streaming_batches_merge_pickle() -> None:
    y, s, sex, age, w = _data(300, seed=8)
    codes, groups, _ = encode_groups({"sex": sex, "age": age})
    data = {"y_true": torch.tensor(y), "y_score": torch.tensor(s), "groups": codes, "sample_weight": torch.tensor(w)}
    for metrics in (["accuracy", "tpr", "fpr", "ece", "brier", "nll", "count"], ["auroc", "ece_data_range", "ppv", "tpr_at_spec_0.8"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GR.GroupMetricWarning)
            check_batching(lambda: GR.GroupMetrics(groups, metrics), data, n=300, splits=[40, 170], atol=1e-9)


def test_best_f1_threshold() -> None:
    y, s, sex, _, _ = _data(300, seed=9)
    prec, rec, thr = skm.precision_recall_curve(y, s)
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-300)
    t = thr[np.argmax(f1[:-1])]
    r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["accuracy"], threshold="best_f1")
    assert r.overall["accuracy"] == pytest.approx(skm.accuracy_score(y, s > t))


def test_outputs() -> None:
    y, s, sex, _, _ = _data(100, seed=10)
    r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["accuracy", "tpr"])
    d = r.to_dict()
    assert d["groups"] == [["F"], ["M"]] and set(d["by_group"]) == {"accuracy", "tpr"}
    text = str(r)
    assert "overall" in text and "difference" in text and "F" in text
    assert r.worst_group()["accuracy"] in [("F",), ("M",)]


def test_bad_inputs() -> None:
    y, s, sex, _, _ = _data(50, seed=11)
    with pytest.raises(InputError, match="y_true must be binary"):
        GR.group_report(y + 1, y_score=s, sensitive_features=sex)
    with pytest.raises(InputError, match="y_score must be probabilities"):
        GR.group_report(y, y_score=s * 3 - 1, sensitive_features=sex, metrics=["auroc"])
    with pytest.raises(InputError, match="mismatched"):
        GR.group_report(y[:-1], y_score=s, sensitive_features=sex)
    sexo = sex.astype(object)
    sexo[4] = None
    with pytest.raises(InputError, match=r"missing values .* in 1 of 50 rows \(first at rows \[4\]\)"):
        GR.group_report(y, y_score=s, sensitive_features=sexo)
    y2 = y.copy().astype(float)
    assert GR.group_report(np.where(y == 1, 3, 7), y_pred=np.where(s >= 0.5, 3, 7), sensitive_features=sex,
                           pos_label=3).overall["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.5))
    del y2


def test_scores_by_group_skips_nan_and_bootstraps() -> None:
    scores = np.array([1.0, 0.0, np.nan, 1.0, 1.0, 0.0, np.nan, 0.5])
    sex = np.array(["F", "F", "F", "M", "M", "M", "M", "M"])
    r = GR.scores_by_group(scores, sensitive_features=sex, name="hit", n_boot=30, ci_quantiles=[0.1, 0.9],
                           random_state=0)
    np.testing.assert_allclose(r.by_group["hit"].numpy(), [0.5, 2.5 / 4])
    assert r.by_group["count"].tolist() == [2.0, 4.0] and r.overall["hit"] == pytest.approx(3.5 / 6)
    lo, hi = r.by_group_ci()["hit"]
    assert np.all(lo <= hi)


def test_to_pandas_multiindex() -> None:
    y, s, sex, age, _ = _data(120, seed=12)
    r = GR.group_report(y, y_score=s, sensitive_features={"sex": sex, "age": age}, metrics=["accuracy"])
    df = r.to_pandas()
    assert df.index.names == ["sex", "age"] and len(df) == len(r.groups)


def test_bad_weights_and_missing_summary_metrics() -> None:
    y, s, sex, _, w = _data(40, seed=13)
    with pytest.raises(InputError, match="sample_weight"):
        GR.group_report(y, y_score=s, sensitive_features=sex, sample_weight=-w)
    r = GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["accuracy"])
    with pytest.raises(ValueError, match="tpr"):
        r.equalized_odds()
    s2 = s.copy()
    s2[3] = np.nan
    with pytest.raises(InputError, match=r"y_score contains NaN or Inf in samples \[3\]"):
        GR.group_report(y, y_score=s2, sensitive_features=sex)


def _tpr_at_spec_reference(y, s, w, level):
    fpr, tpr, _ = skm.roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    ok = (1 - fpr) >= level
    return float(tpr[ok].max()) if ok.any() else 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_tpr_at_specificity(weighted) -> None:
    y, s, sex, _, w = _data(300, seed=14)
    sw = w if weighted else None
    r = GR.group_report(y, y_score=s, sensitive_features=sex, sample_weight=sw,
                        metrics=["tpr_at_spec_0.8", "tpr_at_spec_0.95", "auroc"])
    for i, gname in enumerate(["F", "M"]):
        sel = sex == gname
        for lvl in (0.8, 0.95):
            ref = _tpr_at_spec_reference(y[sel], s[sel], None if sw is None else w[sel], lvl)
            assert float(r.by_group[f"tpr_at_spec_{lvl}"][i]) == pytest.approx(ref, abs=1e-12)
    assert r.overall["tpr_at_spec_0.8"] == pytest.approx(_tpr_at_spec_reference(y, s, sw, 0.8), abs=1e-12)
    with pytest.raises(ValueError, match="specificity level"):
        GR.group_report(y, y_score=s, sensitive_features=sex, metrics=["tpr_at_spec_1.5"])


def test_std_and_skewed_error_ratio() -> None:
    y, s, sex, age, _ = _data(400, seed=15)
    r = GR.group_report(y, y_score=s, sensitive_features=age, metrics=["accuracy", "fpr", "selection_rate"])
    acc = r.by_group["accuracy"].numpy()
    assert r.std()["accuracy"] == pytest.approx(float(np.std(acc)))
    assert r.skewed_error_ratio()["accuracy"] == pytest.approx(float((1 - acc).max() / (1 - acc).min()))
    fpr = r.by_group["fpr"].numpy()
    assert r.skewed_error_ratio()["fpr"] == pytest.approx(float(fpr.max() / fpr.min()))
    assert np.isnan(r.skewed_error_ratio()["selection_rate"])


def test_auroc_many_groups_ties_and_empty_groups() -> None:
    from fastxai.eval.groups import stats as S

    g = np.random.default_rng(16)
    n, G = 3000, 70  # > 64 groups: sort-based partition path
    codes = torch.tensor(g.integers(0, G - 2, n))  # the last two groups are empty
    y = torch.tensor(g.random(n) < 0.5)
    s = torch.tensor(np.round(g.random(n), 1))  # heavy ties
    w = torch.tensor(g.random(n) + 0.1)
    got = S.auroc(S.auroc_plan(codes, G, s), y, w[None])[0]
    for k in range(G):
        sel = (codes == k).numpy()
        if sel.sum() == 0 or y.numpy()[sel].all() or not y.numpy()[sel].any():
            assert torch.isnan(got[k])
        else:
            ref = skm.roc_auc_score(y.numpy()[sel], s.numpy()[sel], sample_weight=w.numpy()[sel])
            assert float(got[k]) == pytest.approx(ref, abs=1e-12)


def test_auroc_binned_within_stated_bound_and_fixed_size_state() -> None:
    y, s, sex, age, w = _data(800, seed=17)
    r = GR.group_report(y, y_score=s, sensitive_features=age, sample_weight=w,
                        metrics=["auroc", "auroc_binned", "auroc_binned_bound"], auroc_bins=50)
    err = (r.by_group["auroc_binned"] - r.by_group["auroc"]).abs()
    assert bool((err <= r.by_group["auroc_binned_bound"] + 1e-12).all())
    assert bool((r.by_group["auroc_binned_bound"] > 0).all())  # 50 bins on 3-decimal scores: shared bins
    # with one bin per distinct score value the binned AUROC is exact
    s_grid = (np.minimum(np.floor(s * 99), 98) + 0.5) / 99  # bin centres: one value per bin
    exact = GR.group_report(y, y_score=s_grid, sensitive_features=age, metrics=["auroc", "auroc_binned"], auroc_bins=99)
    np.testing.assert_allclose(exact.by_group["auroc_binned"].numpy(), exact.by_group["auroc"].numpy(), atol=1e-12)
    codes, groups, _ = encode_groups(age)
    gm = GR.GroupMetrics(groups, ["auroc_binned"], auroc_bins=64)
    assert not gm.keep_rows and gm.hist.shape == (len(groups), 64, 2)
    data = {"y_true": torch.tensor(y), "y_score": torch.tensor(s), "groups": codes}
    check_batching(lambda: GR.GroupMetrics(groups, ["auroc_binned", "auroc_binned_bound"], auroc_bins=64), data,
                   n=800, splits=[100, 500])


def test_string_labels_with_pos_label() -> None:
    y, s, sex, _, _ = _data(150, seed=18)
    ys = np.where(y == 1, "sick", "healthy")
    ps = np.where(s >= 0.5, "sick", "healthy")
    r = GR.group_report(ys, ps, sensitive_features=sex, metrics=["accuracy", "tpr"], pos_label="sick")
    mf = fl.MetricFrame(metrics={"accuracy": skm.accuracy_score,
                                 "tpr": lambda a, b: fl.true_positive_rate(a, b, pos_label="sick")},
                        y_true=ys, y_pred=ps, sensitive_features=sex)
    _compare(r, mf, ["accuracy", "tpr"])
    with pytest.raises(InputError, match="pos_label"):
        GR.group_report(ys, ps, sensitive_features=sex)


def test_control_features_match_fairlearn() -> None:
    y, s, sex, age, w = _data(500, seed=19)
    names = ["accuracy", "tpr", "selection_rate", "auroc"]
    metrics = {k: FL_METRICS[k] for k in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fl.MetricFrame(metrics=metrics, y_true=y, y_pred=s, sensitive_features={"sex": sex},
                            control_features={"age": age}, sample_params={k: {"sample_weight": w} for k in names},
                            n_boot=8, ci_quantiles=[0.2, 0.8], random_state=1)
        r = GR.group_report(y, y_score=s, sensitive_features={"sex": sex}, control_features={"age": age},
                            sample_weight=w, metrics=names, zero_division=0.0, n_boot=8, ci_quantiles=[0.2, 0.8],
                            random_state=1)
    assert r.groups == list(mf.by_group.index) and r.feature_names == ["age", "sex"]
    controls = list(mf.overall.index)
    for m in names:
        np.testing.assert_allclose(r.by_group[m].numpy(), mf.by_group[m].to_numpy(float), atol=ATOL)
        for c in controls:
            key = (c,)
            assert r.overall[m][key] == pytest.approx(float(mf.overall[m][c]), abs=ATOL)
            assert r.group_min()[m][key] == pytest.approx(float(mf.group_min()[m][c]), abs=ATOL)
            assert r.group_max()[m][key] == pytest.approx(float(mf.group_max()[m][c]), abs=ATOL)
            for meth in ("between_groups", "to_overall"):
                assert r.difference(meth)[m][key] == pytest.approx(float(mf.difference(meth)[m][c]), abs=ATOL)
                assert r.ratio(meth)[m][key] == pytest.approx(float(mf.ratio(meth)[m][c]), abs=ATOL)
            for i in range(2):
                assert r.overall_ci()[m][i][key] == pytest.approx(float(mf.overall_ci[i][m][c]), abs=ATOL)
                assert r.difference_ci()[m][i][key] == pytest.approx(float(mf.difference_ci()[i][m][c]), abs=ATOL)
    dp_diff, _ = r.demographic_parity()
    assert set(dp_diff) == {(c,) for c in controls}
    assert "overall" in str(r) and "[<40]" in str(r)
    assert isinstance(r.worst_group()["accuracy"], dict)


def test_regression_report_matches_fairlearn() -> None:
    g = np.random.default_rng(20)
    n = 300
    yt, yp = g.normal(size=n), g.normal(size=n)
    w = g.random(n) + 0.2
    sex = g.choice(["F", "M", "X"], n)
    r = GR.regression_report(yt, yp, sensitive_features=sex, sample_weight=w, n_boot=6, ci_quantiles=[0.3, 0.7],
                             random_state=2)
    mf = fl.MetricFrame(metrics={"mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error},
                        y_true=yt, y_pred=yp, sensitive_features=sex,
                        sample_params={"mae": {"sample_weight": w}, "rmse": {"sample_weight": w}},
                        n_boot=6, ci_quantiles=[0.3, 0.7], random_state=2)
    _compare(r, mf, ["mae", "rmse"])
    for m in ("mae", "rmse"):
        for i in range(2):
            np.testing.assert_allclose(r.by_group_ci()[m][i], mf.by_group_ci[i][m].to_numpy(float), atol=ATOL)
    assert r.worst_group()["rmse"] == (mf.by_group["rmse"].idxmax(),)


def test_plain_torch_bench_baseline_gives_group_reports_numbers() -> None:
    """benches/eval_group_baseline.py (issue 16's floor) computes the same numbers as group_report."""
    from benches.eval_group_baseline import METRICS, plain_group_report

    g = np.random.default_rng(12)
    n = 5000
    y = (g.random(n) < 0.3).astype(np.int64)
    s = np.round(np.clip(0.3 * y + 0.7 * g.random(n), 0, 1), 2)  # ties
    sf = g.choice(["a", "b", "c", "d", "e", "f"], n)
    yp = (s >= 0.5).astype(np.int64)
    ours = GR.group_report(y, yp, y_score=s, sensitive_features=sf, metrics=list(METRICS))
    base = plain_group_report(y, yp, s, sf)
    for m in METRICS:
        torch.testing.assert_close(ours.by_group[m], base[m]["by_group"], rtol=0, atol=1e-12)
        assert ours.overall[m] == pytest.approx(base[m]["overall"], abs=1e-12)
        assert ours.difference()[m] == pytest.approx(base[m]["difference"], abs=1e-12)
        assert ours.ratio()[m] == pytest.approx(base[m]["ratio"], abs=1e-12)
    assert float(base["auroc"]["by_group"][0]) == pytest.approx(
        skm.roc_auc_score(y[sf == "a"], s[sf == "a"]), abs=1e-12)
