"""The report's statistics: patient-clustered bootstrap, paired comparisons, Benjamini–Hochberg.

Every comparison the report states is a :class:`Comparison`: an estimate, a percentile bootstrap
CI and a two-sided p-value from the *same* replicates (Wald: estimate / bootstrap SE, so it is not
floored at 2 / (B + 1)), then one Benjamini–Hochberg pass over all the report's comparisons gives
each its q-value. The wording needs both: the CI must exclude zero *and* q < alpha.

* Resampling is by **patient** (images of one patient move together): replicate weights are the
  patient multiplicities of ``fastxai.eval.groups.bootstrap.multiplicities`` (fairlearn's resamples,
  applied to patients) spread over each patient's samples.
* Method vs baseline: per-sample differences on the same samples (a paired design), mean over
  samples where both are defined.
* Group vs rest: both arms are computed from the same replicate (patients resampled jointly), and
  the per-replicate difference is the statistic, so the two arms' dependence is kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Comparison", "ClusterBootstrap", "benjamini_hochberg"]


@dataclass
class Comparison:
    """One tested difference. ``estimate`` = a − b; ``ci`` at level ``1 − alpha``; ``q`` after BH."""

    key: str
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    q: float = float("nan")
    a: float = float("nan")
    b: float = float("nan")
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def excludes_zero(self) -> bool:
        """True when the whole CI lies on one side of zero."""
        return bool(np.isfinite(self.ci_low) and np.isfinite(self.ci_high)
                    and (self.ci_low > 0 or self.ci_high < 0))


def wald_p(estimate: float, se: float) -> float:
    """Two-sided p-value of estimate / se under a standard normal (se from the bootstrap replicates).

    Used instead of the percentile-bootstrap p-value, whose floor 2 / (B + 1) would make every
    comparison fail FDR control in a report with many comparisons. A zero SE gives p = 0 for a
    non-zero estimate and p = 1 for a zero one."""
    if not math.isfinite(estimate) or not math.isfinite(se):
        return float("nan")
    if se <= 0:
        return 0.0 if estimate != 0 else 1.0
    return float(math.erfc(abs(estimate) / se / math.sqrt(2.0)))


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """(M,) p-values -> (M,) BH-adjusted q-values (step-up, monotone, capped at 1; NaN stays NaN)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


class ClusterBootstrap:
    """Replicate weights (B, N) for N samples resampled by patient.

    ``patients``: (N,) patient ids (any hashable; a sample without an id is its own patient).
    """

    def __init__(self, patients: Sequence, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> None:
        from fastxai.eval.groups.bootstrap import multiplicities

        codes, uniq = _codes(patients)
        self.n, self.n_boot, self.alpha = len(codes), int(n_boot), float(alpha)
        self.n_patients = len(uniq)
        mult = np.concatenate([m.numpy() for m in multiplicities(len(uniq), self.n_boot, random_state=seed)])
        self.weights = mult[:, codes]  # (B, N)

    # ------------------------------------------------------------------ primitives
    def _summary(self, key: str, est: float, reps: np.ndarray, n: int, a: float, b: float) -> Comparison:
        reps = reps[np.isfinite(reps)]
        if not np.isfinite(est) or reps.size < max(20, self.n_boot // 2):
            return Comparison(key, est, float("nan"), float("nan"), float("nan"), n, a=a, b=b)
        lo, hi = np.quantile(reps, [self.alpha / 2, 1 - self.alpha / 2])
        return Comparison(key, est, float(lo), float(hi), wald_p(est, float(np.std(reps, ddof=1))), n, a=a, b=b)

    def _wmean(self, x: np.ndarray, mask: np.ndarray) -> Tuple[float, np.ndarray]:
        """Mean of x over mask, and its (B,) replicate means (NaN where a replicate has no rows)."""
        xm = np.where(mask, x, 0.0)
        est = float(xm.sum() / mask.sum()) if mask.any() else float("nan")
        den = self.weights @ mask.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = (self.weights @ xm) / den
        return est, reps

    # ------------------------------------------------------------------ tests
    def paired_mean_difference(self, key: str, a: np.ndarray, b: np.ndarray) -> Comparison:
        """mean(a − b) over samples where both are finite; a, b: (N,) scores of the same samples."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        d = np.where(ok, a - b, 0.0)
        est, reps = self._wmean(d, ok)
        ma = float(a[ok].mean()) if ok.any() else float("nan")
        mb = float(b[ok].mean()) if ok.any() else float("nan")
        return self._summary(key, est, reps, int(ok.sum()), ma, mb)

    def group_mean_gap(self, key: str, x: np.ndarray, in_group: np.ndarray,
                       rest: Optional[np.ndarray] = None) -> Comparison:
        """mean(x | group) − mean(x | rest) (rest: the other samples unless given); NaN x skipped."""
        x = np.asarray(x, np.float64)
        g = np.asarray(in_group, bool)
        r = ~g if rest is None else np.asarray(rest, bool)
        ok = np.isfinite(x)
        ea, ra = self._wmean(x, g & ok)
        eb, rb = self._wmean(x, r & ok)
        return self._summary(key, ea - eb, ra - rb, int((g & ok).sum()), ea, eb)

    def group_rate_gap(self, key: str, num: np.ndarray, den: np.ndarray, in_group: np.ndarray,
                       rest: Optional[np.ndarray] = None) -> Comparison:
        """Gap of a rate Σnum/Σden between the group and the rest (e.g. sensitivity: num = TP,
        den = positives); num, den: (N,) 0/1."""
        num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
        g = np.asarray(in_group, bool)
        r = ~g if rest is None else np.asarray(rest, bool)
        ra, ea = self._rate(num, den, g)
        rb, eb = self._rate(num, den, r)
        return self._summary(key, ea - eb, ra - rb, int((den * g).sum()), ea, eb)

    def _rate(self, num: np.ndarray, den: np.ndarray, mask: np.ndarray) -> Tuple[np.ndarray, float]:
        n, d = num * mask, den * mask
        est = float(n.sum() / d.sum()) if d.sum() > 0 else float("nan")
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = (self.weights @ n) / (self.weights @ d)
        return reps, est

    def mean(self, key: str, x: np.ndarray) -> Comparison:
        """Mean of x over its finite values, with its patient-bootstrap CI (p: against zero)."""
        x = np.asarray(x, np.float64)
        ok = np.isfinite(x)
        est, reps = self._wmean(np.where(ok, x, 0.0), ok)
        return self._summary(key, est, reps, int(ok.sum()), est, float("nan"))


def _codes(values: Sequence) -> Tuple[np.ndarray, List]:
    """(N,) integer codes of values; missing values (None / NaN / "") get a code of their own each."""
    seen: Dict[object, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    uniq: List = []
    for i, v in enumerate(values):
        missing = v is None or (isinstance(v, float) and v != v) or v == ""
        k = ("__sample__", i) if missing else v
        if k not in seen:
            seen[k] = len(uniq)
            uniq.append(k)
        codes[i] = seen[k]
    return codes, uniq
