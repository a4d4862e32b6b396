"""fastxai.report.stats: BH against scipy, the patient bootstrap, paired and group comparisons."""
import numpy as np
import pytest
import scipy.stats

from fastxai.report.stats import ClusterBootstrap, benjamini_hochberg


def test_bh_matches_scipy():
    rng = np.random.default_rng(0)
    for m in (1, 2, 7, 50):
        p = np.concatenate([rng.random(m), rng.random(m) * 1e-3])
        np.testing.assert_allclose(benjamini_hochberg(p), scipy.stats.false_discovery_control(p, method="bh"),
                                   rtol=1e-12)


def test_bh_keeps_nan_and_ties():
    q = benjamini_hochberg([0.01, np.nan, 0.01, 0.04])
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], scipy.stats.false_discovery_control([0.01, 0.01, 0.04]))


def test_weights_follow_patients_and_eval_bootstrap():
    from fastxai.eval.groups.bootstrap import multiplicities

    patients = ["a", "b", "a", "c", None, "b"]
    bs = ClusterBootstrap(patients, n_boot=40, seed=3)
    w = bs.weights
    assert w.shape == (40, 6)
    np.testing.assert_array_equal(w[:, 0], w[:, 2])
    np.testing.assert_array_equal(w[:, 1], w[:, 5])
    assert bs.n_patients == 4  # the sample without an id is its own patient
    mult = np.concatenate([m.numpy() for m in multiplicities(4, 40, random_state=3)])
    np.testing.assert_array_equal(w[:, [0, 1, 3, 4]], mult)


def test_duplicated_images_of_one_patient_do_not_narrow_the_ci():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.2, 1, 80), rng.normal(0, 1, 80)
    one = ClusterBootstrap([f"p{i}" for i in range(80)], n_boot=300, seed=0).paired_mean_difference("k", a, b)
    pats = [f"p{i}" for i in range(80)] * 2
    two = ClusterBootstrap(pats, n_boot=300, seed=0).paired_mean_difference("k", np.tile(a, 2), np.tile(b, 2))
    assert two.estimate == pytest.approx(one.estimate)
    assert (two.ci_low, two.ci_high) == pytest.approx((one.ci_low, one.ci_high))
    naive = ClusterBootstrap(list(range(160)), n_boot=300, seed=0).paired_mean_difference("k", np.tile(a, 2), np.tile(b, 2))
    assert naive.ci_high - naive.ci_low < 0.85 * (one.ci_high - one.ci_low)


def test_paired_difference_estimate_and_p_agree_with_ci():
    rng = np.random.default_rng(2)
    for shift in (0.0, 0.1, 0.5):
        a = rng.normal(shift, 1, 120)
        b = a - shift + rng.normal(0, 0.5, 120)
        b[:5] = np.nan
        c = ClusterBootstrap(range(120), n_boot=400, seed=1).paired_mean_difference("k", a, b)
        ok = ~np.isnan(b)
        assert c.estimate == pytest.approx(np.mean(a[ok] - b[ok]))
        assert c.n == 115
        assert c.ci_low <= c.estimate <= c.ci_high
        assert c.excludes_zero == (c.p < 0.05) or 0.02 < c.p < 0.08  # percentile CI vs Wald p: near 0.05 only


def test_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(100):
        x = rng.normal(0.3, 1, 60)
        c = ClusterBootstrap(range(60), n_boot=200, seed=int(rng.integers(1e6))).mean("m", x)
        covered += c.ci_low <= 0.3 <= c.ci_high
    assert 0.86 <= covered / 100 <= 0.99


def test_group_rate_gap_is_the_sensitivity_difference():
    from sklearn.metrics import recall_score

    rng = np.random.default_rng(4)
    n = 300
    y = rng.integers(0, 2, n)
    g = rng.random(n) < 0.4
    yhat = np.where(g, rng.random(n) < 0.5, rng.random(n) < 0.9).astype(int) * y + (1 - y) * (rng.random(n) < 0.2)
    c = ClusterBootstrap(range(n), n_boot=300, seed=0).group_rate_gap("tpr", y * yhat, y, g)
    assert c.a == pytest.approx(recall_score(y[g], yhat[g]))
    assert c.b == pytest.approx(recall_score(y[~g], yhat[~g]))
    assert c.estimate == pytest.approx(c.a - c.b)
    assert c.excludes_zero and c.estimate < 0


def test_group_mean_gap_without_difference_includes_zero_mostly():
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(40):
        x = rng.normal(0, 1, 100)
        g = rng.random(100) < 0.5
        hits += ClusterBootstrap(range(100), n_boot=200, seed=int(rng.integers(1e6))).group_mean_gap("k", x, g).excludes_zero
    assert hits <= 6


def test_wald_p():
    from fastxai.report.stats import wald_p

    assert wald_p(1.96, 1.0) == pytest.approx(0.05, abs=1e-3)
    assert wald_p(-1.0, 0.0) == 0.0 and wald_p(0.0, 0.0) == 1.0 and np.isnan(wald_p(np.nan, 1.0))
    assert wald_p(5.0, 1.0) < 1e-5  # far below a 1000-replicate bootstrap's 2 / 1001
