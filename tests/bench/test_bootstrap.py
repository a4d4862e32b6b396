"""The patient-level bootstrap against a plain loop over the same resamples."""
from __future__ import annotations

import numpy as np

from fastxai.bench.bootstrap import cluster_bootstrap, group_codes


def test_matches_a_loop_over_patients():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(12), rng.integers(1, 4, 12))
    n = len(patients)
    values = rng.normal(size=n)
    values[3] = np.nan
    groups = rng.integers(0, 2, n)
    out = cluster_bootstrap(values, patients, groups, 2, n_boot=200, ci=0.9, seed=7, chunk=37)
    # the same draws, one replicate at a time
    ok = ~np.isnan(values)
    pats = np.unique(patients[ok])
    draws = np.random.default_rng(7)
    reps = []
    for lo in range(0, 200, 37):
        for m in draws.multinomial(len(pats), np.full(len(pats), 1 / len(pats)), size=min(37, 200 - lo)):
            rows = [(values[i], groups[i], m[np.searchsorted(pats, patients[i])]) for i in np.flatnonzero(ok)]
            reps.append([sum(v * w for v, g, w in rows if g == k) / sum(w for v, g, w in rows if g == k)
                         if sum(w for v, g, w in rows if g == k) else np.nan for k in range(2)])
    reps = np.array(reps)
    for k in range(2):
        col = reps[:, k][~np.isnan(reps[:, k])]
        assert np.allclose([out["low"][k], out["high"][k]], np.quantile(col, [0.05, 0.95]))
        assert np.isclose(out["mean"][k], np.nanmean(values[groups == k]))
        assert out["n"][k] == np.sum(ok & (groups == k))
        assert out["n_patients"][k] == len(np.unique(patients[ok & (groups == k)]))


def test_patients_move_together():
    # two patients: one with 9 identical values 1.0, one with a single 0.0 -> every replicate mean is 0, 0.9 or 1
    values = np.array([1.0] * 9 + [0.0])
    patients = np.array(["a"] * 9 + ["b"])
    r = cluster_bootstrap(values, patients, np.zeros(10, np.int64), 1, n_boot=500, ci=0.95, seed=0)
    assert r["low"][0] == 0.0 and r["high"][0] == 1.0 and r["mean"][0] == 0.9


def test_group_codes_sorted():
    codes, levels = group_codes(["M", "F", "M", 3])
    assert levels == ["3", "F", "M"] and codes.tolist() == [2, 1, 2, 0]
