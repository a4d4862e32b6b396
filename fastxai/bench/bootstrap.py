"""Patient-level (cluster) bootstrap of means, for every group at once.

A replicate draws P patients with replacement (multiplicities ``M`` (B, P) from a multinomial);
a group's replicate mean is ``Σ_p M_bp S_gp / Σ_p M_bp C_gp`` with ``S_gp`` / ``C_gp`` the sum /
count of the group's (non-NaN) values of patient p. So images of one patient move together, as
they must when a patient contributes several images. Percentile intervals; replicates in which a
group has no row are skipped. (``fastxai.eval``'s bootstraps resample rows, as fairlearn does.)
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np


def cluster_bootstrap(values: np.ndarray, patients: Sequence, groups: np.ndarray, n_groups: int,
                      n_boot: int = 1000, ci: float = 0.95, seed: int = 0, chunk: int = 64
                      ) -> Dict[str, np.ndarray]:
    """Means with patient-bootstrap CIs per group.

    Args:
        values: (N,) float (NaN rows ignored). patients: (N,) patient ids.
        groups: (N,) int group codes in [0, G) (-1: in no group). n_groups: G.
    Returns:
        ``{"mean", "low", "high"}`` (G,) float64 and ``{"n", "n_patients"}`` (G,) int64.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v) & (np.asarray(groups) >= 0)
    pcode, pinv = np.unique(np.asarray(patients)[ok], return_inverse=True)
    g = np.asarray(groups)[ok]
    P, G = len(pcode), n_groups
    S = np.zeros((G, P))
    C = np.zeros((G, P))
    np.add.at(S, (g, pinv), v[ok])
    np.add.at(C, (g, pinv), 1.0)
    n = C.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = S.sum(1) / n
    low = np.full(G, np.nan)
    high = np.full(G, np.nan)
    if n_boot > 0 and P > 0:
        rng = np.random.default_rng(seed)
        reps = []
        for lo in range(0, n_boot, chunk):
            M = rng.multinomial(P, np.full(P, 1.0 / P), size=min(chunk, n_boot - lo)).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps.append((M @ S.T) / (M @ C.T))
        R = np.concatenate(reps)
        alpha = (1.0 - ci) / 2.0
        for j in range(G):
            col = R[:, j][~np.isnan(R[:, j])]
            if col.size:
                low[j], high[j] = np.quantile(col, [alpha, 1.0 - alpha])
    return {"mean": mean, "low": low, "high": high, "n": n.astype(np.int64),
            "n_patients": (C > 0).sum(1).astype(np.int64)}


def group_codes(column: Sequence) -> Tuple[np.ndarray, list]:
    """Values -> (codes (N,), sorted levels)."""
    levels = sorted({str(x) for x in column})
    index = {lv: i for i, lv in enumerate(levels)}
    return np.array([index[str(x)] for x in column], dtype=np.int64), levels
