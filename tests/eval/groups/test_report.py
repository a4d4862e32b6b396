"""GroupReport extras: bootstrap CIs of SD / SER (vs a manual loop over fairlearn's resamples) and
MEDFAIR's interpolated TPR at fixed specificity (vs sklearn ``roc_curve`` + scipy ``interp1d``)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastxai.eval.groups as GR

skm = pytest.importorskip("sklearn.metrics")
interp1d = pytest.importorskip("scipy.interpolate").interp1d


def _data(n=500, seed=0):
    g = np.random.default_rng(seed)
    age = g.choice(["<40", "40-60", ">60"], n, p=[0.2, 0.5, 0.3])
    ctl = g.choice(["AP", "PA"], n)
    y = (g.random(n) < 0.4).astype(int)
    s = np.clip(0.3 * y + 0.7 * g.random(n), 0, 1).round(2)  # ties
    return y, s, age, ctl


def _resamples(n: int, n_boot: int, random_state: int):
    """fairlearn 0.15's replicates: DataFrame.sample(frac=1, replace=True, random_state=seed_i)."""
    seeds = np.random.default_rng(random_state).integers(0, np.iinfo(np.uint32).max, n_boot, dtype=np.uint32)
    return [np.random.RandomState(sd).choice(n, n) for sd in seeds]


def _group_metric(name, y, s, thr=0.5):
    p = (s >= thr).astype(int)
    if name == "accuracy":
        return float(np.mean(y == p)) if y.size else np.nan
    if name == "tpr":
        return float(np.mean(p[y == 1])) if (y == 1).any() else np.nan
    if name == "fpr":
        return float(np.mean(p[y == 0])) if (y == 0).any() else np.nan
    if name == "brier":
        return float(np.mean((s - y) ** 2)) if y.size else np.nan
    raise ValueError(name)


HIB = {"accuracy": True, "tpr": True, "fpr": False, "brier": False}


def _manual_sd_ser(y, s, groups, levels, metrics, idx_list, ddof):
    sd = {m: [] for m in metrics}
    ser = {m: [] for m in metrics}
    for idx in idx_list:
        yb, sb, gb = y[idx], s[idx], groups[idx]
        for m in metrics:
            v = np.array([_group_metric(m, yb[gb == lv], sb[gb == lv]) for lv in levels])
            v = v[~np.isnan(v)]
            sd[m].append(np.std(v, ddof=ddof) if v.size > ddof else np.nan)
            err = 1 - v if HIB[m] else v
            with np.errstate(divide="ignore", invalid="ignore"):
                ser[m].append(err.max() / err.min() if v.size else np.nan)
    return sd, ser


@pytest.mark.parametrize("metrics", [["accuracy", "tpr", "fpr"],  # C++ bootstrap walk
                                     ["accuracy", "fpr", "brier"]])  # torch path
@pytest.mark.parametrize("ddof", [0, 1])
def test_std_and_ser_ci_match_manual_fairlearn_resamples(metrics, ddof) -> None:
    y, s, age, _ = _data()
    q = [0.05, 0.5, 0.95]
    n_boot, rs = 30, 11
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = GR.group_report(y, y_score=s, sensitive_features=age, metrics=metrics, n_boot=n_boot,
                            ci_quantiles=q, random_state=rs)
    levels = sorted(set(age))
    sd, ser = _manual_sd_ser(y, s, age, levels, metrics, _resamples(len(y), n_boot, rs), ddof)
    got_sd, got_ser = r.std_ci(ddof), r.skewed_error_ratio_ci()
    for m in metrics:
        np.testing.assert_allclose(got_sd[m], np.quantile(sd[m], q), atol=1e-9, rtol=0, err_msg=m)
        np.testing.assert_allclose(got_ser[m], np.quantile(ser[m], q), atol=1e-9, rtol=1e-12, err_msg=m)
    # point estimates are the same functions on the point-estimate groups
    acc = r.by_group["accuracy"].numpy()
    assert r.std(ddof)["accuracy"] == pytest.approx(float(np.std(acc, ddof=ddof)))


def test_std_and_ser_ci_per_control_level_and_undirected_metric() -> None:
    y, s, age, ctl = _data(400, seed=3)
    q = [0.1, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = GR.group_report(y, y_score=s, sensitive_features=age, control_features=ctl,
                            metrics=["accuracy", "selection_rate"], n_boot=20, ci_quantiles=q, random_state=2)
    idx_list = _resamples(len(y), 20, 2)
    levels = sorted(set(age))
    for c in sorted(set(ctl)):
        sd_c = []
        for idx in idx_list:
            keep = idx[ctl[idx] == c]
            v = np.array([_group_metric("accuracy", y[keep][age[keep] == lv], s[keep][age[keep] == lv])
                          for lv in levels])
            v = v[~np.isnan(v)]
            sd_c.append(np.std(v))
        got = [r.std_ci()["accuracy"][i][(c,)] for i in range(len(q))]
        np.testing.assert_allclose(got, np.quantile(sd_c, q), atol=1e-9, rtol=0)
    assert all(np.isnan(v) for lvl in r.skewed_error_ratio_ci()["selection_rate"] for v in lvl.values())


def test_ci_needs_bootstrap() -> None:
    y, s, age, _ = _data(100)
    r = GR.group_report(y, y_score=s, sensitive_features=age, metrics=["accuracy"])
    with pytest.raises(RuntimeError, match="n_boot"):
        r.std_ci()
