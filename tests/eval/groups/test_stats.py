"""Per-group statistics: MEDFAIR's interpolated TPR at fixed specificity (vs sklearn ``roc_curve`` +
scipy ``interp1d``), incl. its bootstrap CIs vs fairlearn."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastxai.eval.groups as GR
from tests.eval.groups.test_report import _data

skm = pytest.importorskip("sklearn.metrics")
interp1d = pytest.importorskip("scipy.interpolate").interp1d
fl = pytest.importorskip("fairlearn.metrics")


# --------------------------------------------------------------------------- MEDFAIR TPR at specificity


def _medfair(y, s, level, w=None):
    """MEDFAIR ``sensitivity_at_specificity``: interp1d(1 - fpr, tpr)(level) on sklearn's roc_curve."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, _ = skm.roc_curve(y, s, sample_weight=w)
        return float(interp1d(1 - fpr, tpr)(level))


@pytest.mark.parametrize("weighted", [False, True])
def test_tpr_at_spec_interp_matches_sklearn_and_scipy(weighted) -> None:
    levels = [0.0, 0.3, 0.5, 0.8, 0.9, 0.95, 1.0]
    names = [f"tpr_at_spec_interp_{lv}" for lv in levels]
    for seed in range(12):
        g = np.random.default_rng(seed)
        n = int(g.integers(20, 400))
        y = (g.random(n) < g.uniform(0.2, 0.8)).astype(int)
        s = np.clip(0.3 * y + 0.7 * g.random(n), 0, 1).round([1, 2, 3][seed % 3])  # many ties at 1 decimal
        grp = g.choice(["a", "b", "c"], n)
        w = None
        if weighted:
            w = g.random(n) + 0.5
            w[g.random(n) < 0.15] = 0.0  # sklearn drops zero-weight rows
        r = GR.group_report(y, y_score=s, sensitive_features=grp, sample_weight=w, metrics=names)
        for i, lv in enumerate(["a", "b", "c"]):
            sel = grp == lv
            for name, level in zip(names, levels):
                ref = _medfair(y[sel], s[sel], level, None if w is None else w[sel])
                assert float(r.by_group[name][i]) == pytest.approx(ref, abs=1e-9 if weighted else 1e-12), \
                    (seed, lv, level)
        assert r.overall[names[3]] == pytest.approx(_medfair(y, s, 0.8, w), abs=1e-9)


def test_tpr_at_spec_interp_is_medfairs_chord_not_the_staircase() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 1, 0])
    s = np.array([.95, .9, .85, .8, .7, .6, .55, .5, .4, .3])
    g = np.zeros(10, int)
    r = GR.group_report(y, y_score=s, sensitive_features=g,
                        metrics=["tpr_at_spec_interp_0.9", "tpr_at_spec_0.9", "tpr_at_spec_interp_1.0",
                                 "tpr_at_spec_interp_0.8", "tpr_at_spec_interp_0.7"])
    # ROC: (0, 0) (0, .4) (.2, .4) (.2, .6) ...; at fpr 0.1 interp1d joins (fpr .2, tpr .6) and (0, 0)
    assert r.overall["tpr_at_spec_interp_0.9"] == pytest.approx(0.3, abs=1e-12)
    assert r.overall["tpr_at_spec_0.9"] == pytest.approx(0.4, abs=1e-12)  # torchmetrics: the staircase
    assert r.overall["tpr_at_spec_interp_1.0"] == pytest.approx(0.4, abs=1e-12)  # top of the vertical at fpr 0
    assert r.overall["tpr_at_spec_interp_0.8"] == pytest.approx(0.6, abs=1e-12)
    assert r.overall["tpr_at_spec_interp_0.7"] == pytest.approx(_medfair(y, s, 0.7), abs=1e-12)


def test_tpr_at_spec_interp_bootstrap_matches_fairlearn() -> None:
    fl = pytest.importorskip("fairlearn.metrics")
    y, s, age, _ = _data(300, seed=5)

    def medfair(yt, ys):
        return _medfair(np.asarray(yt), np.asarray(ys), 0.8)

    q = [0.1, 0.5, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fl.MetricFrame(metrics={"m": medfair}, y_true=y, y_pred=s, sensitive_features=age, n_boot=10,
                            ci_quantiles=q, random_state=4)
        r = GR.group_report(y, y_score=s, sensitive_features=age, metrics=["tpr_at_spec_interp_0.8"], n_boot=10,
                            ci_quantiles=q, random_state=4)
    np.testing.assert_allclose(r.by_group["tpr_at_spec_interp_0.8"].numpy(), mf.by_group["m"].to_numpy(float),
                               atol=1e-12)
    for i in range(len(q)):
        np.testing.assert_allclose(r.by_group_ci()["tpr_at_spec_interp_0.8"][i], mf.by_group_ci[i]["m"].to_numpy(float),
                                   atol=1e-12)
        assert r.overall_ci()["tpr_at_spec_interp_0.8"][i] == pytest.approx(float(mf.overall_ci[i]["m"]), abs=1e-12)
        assert r.difference_ci()["tpr_at_spec_interp_0.8"][i] == pytest.approx(float(mf.difference_ci()[i]["m"]),
                                                                               abs=1e-12)


def test_tpr_at_spec_interp_one_class_group_is_nan_and_name_checks() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([.1, .4, .35, .8, .2, .9])
    g = np.array(["a", "a", "b", "b", "b", "b"])
    with pytest.warns(GR.GroupMetricWarning, match="only one class"):
        r = GR.group_report(y, y_score=s, sensitive_features=g, metrics=["tpr_at_spec_interp_0.8"])
    assert np.isnan(float(r.by_group["tpr_at_spec_interp_0.8"][0]))
    assert float(r.by_group["tpr_at_spec_interp_0.8"][1]) == pytest.approx(_medfair(y[2:], s[2:], 0.8))
    with pytest.raises(ValueError, match="specificity level"):
        GR.group_report(y, y_score=s, sensitive_features=g, metrics=["tpr_at_spec_interp_x"])
