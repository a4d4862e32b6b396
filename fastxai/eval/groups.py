"""Group (fairness) metrics: ``GroupReport`` (like fairlearn's ``MetricFrame``) and its streaming state.

* Decisions: ``y_pred`` if given, else ``y_score >= threshold`` (default 0.5) or MEDFAIR's
  best-F1 threshold (``threshold="best_f1"``: first arg-max of F1 on the pooled data, ``>``).
* Undefined values (a rate without positives / negatives / predicted positives, AUROC of a
  one-class group, groups smaller than ``min_group_size``) are NaN with a warning naming the
  group and its count; ``zero_division=0.0`` fills rates instead, reproducing fairlearn.
  Empty groups (e.g. empty intersections) are NaN rows, skipped by min/max/difference/ratio.
* ``GroupMetrics`` keeps fixed-size (G, ...) sum states (merge = add) plus, only when a metric
  needs per-row values (AUROC, data-range ECE, user callables, bootstrap), the rows themselves
  (mergeable by concatenation).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from fastxai.eval import group_aggregates as A
from fastxai.eval import group_metrics as GM
from fastxai.eval import group_stats as S
from fastxai.eval.bootstrap import multiplicities
from fastxai.eval.errors import InputError, check_binary, check_finite, check_probabilities, check_same_n
from fastxai.eval.group_encoding import encode_groups, group_label
from fastxai.eval.group_metrics import ScoreMetric
from fastxai.eval.state import Metric

__all__ = [
    "GroupMetrics", "GroupReport", "GroupMetricWarning", "ScoreMetric", "group_report",
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
    "equalized_odds_ratio", "equal_opportunity_difference", "best_f1_threshold", "scores_by_group",
]

MetricArg = Union[str, Callable]
DEFAULT_METRICS = ("accuracy", "tpr", "fpr", "selection_rate", "count")


class GroupMetricWarning(UserWarning):
    """A group metric is undefined for some groups (NaN returned)."""


# --------------------------------------------------------------------------- inputs


def _tensor(x: Any, name: str) -> torch.Tensor:
    if x is None:
        return None
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.reshape(-1)


def binarise(name: str, y: torch.Tensor, pos_label: Any) -> torch.Tensor:
    """y == pos_label as bool; labels must be binary ({0,1} / {-1,1} when pos_label is None)."""
    if pos_label is None:
        vals = set(torch.unique(y).tolist())
        if not (vals <= {0, 1} or vals <= {-1, 1}):
            raise InputError(f"{name} must be binary in {{0, 1}} or {{-1, 1}} unless pos_label= is given; "
                             f"found {sorted(vals)[:5]}")
        return y == 1
    if torch.unique(y).numel() > 2:
        raise InputError(f"{name} must be binary (at most two distinct values); found {torch.unique(y)[:5].tolist()}")
    return y == pos_label


def best_f1_threshold(y: torch.Tensor, score: torch.Tensor) -> float:
    """MEDFAIR threshold: the score maximising F1 (first arg-max over ``precision_recall_curve``)."""
    from sklearn.metrics import precision_recall_curve

    prec, rec, thr = precision_recall_curve(y.numpy(), score.numpy())
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0)
    return float(thr[int(np.argmax(f1[:-1]))])


# --------------------------------------------------------------------------- report


class GroupReport:
    """Metrics overall and by group, with fairlearn's aggregations and optional bootstrap CIs.

    Attributes:
        overall: metric -> float.
        by_group: metric -> (G,) float64 tensor (groups in ``groups`` order).
        groups: G tuples of sensitive-feature levels; ``counts`` (G,) rows per group.
    """

    def __init__(self, metrics: List[str], groups: List[Tuple], feature_names: List[str],
                 overall: Dict[str, float], by_group: Dict[str, torch.Tensor], counts: torch.Tensor,
                 replicates: Optional[Dict[str, Tuple[torch.Tensor, torch.Tensor]]] = None,
                 ci_quantiles: Sequence[float] = ()) -> None:
        self.metrics, self.groups, self.feature_names = metrics, groups, feature_names
        self.overall, self.by_group, self.counts = overall, by_group, counts
        self.replicates = replicates or {}
        self.ci_quantiles = list(ci_quantiles)

    # fairlearn-style aggregations ------------------------------------------------------
    def _need(self, *names: str) -> None:
        missing = [n for n in names if n not in self.by_group]
        if missing:
            raise ValueError(f"this summary needs metrics {missing}; add them to metrics=")

    def _ov(self, m: str) -> torch.Tensor:
        return torch.tensor(self.overall[m], dtype=torch.float64)

    def group_min(self) -> Dict[str, float]:
        """Smallest group value per metric (NaN groups skipped)."""
        return {m: float(A.group_min(self.by_group[m])) for m in self.metrics}

    def group_max(self) -> Dict[str, float]:
        """Largest group value per metric (NaN groups skipped)."""
        return {m: float(A.group_max(self.by_group[m])) for m in self.metrics}

    def difference(self, method: str = "between_groups") -> Dict[str, float]:
        """max - min (``between_groups``) or max |group - overall| (``to_overall``)."""
        return {m: float(A.difference(self.by_group[m], self._ov(m), method)) for m in self.metrics}

    def ratio(self, method: str = "between_groups") -> Dict[str, float]:
        """min / max (``between_groups``) or min of group/overall folded to <= 1 (``to_overall``)."""
        return {m: float(A.ratio(self.by_group[m], self._ov(m), method)) for m in self.metrics}

    def std(self, ddof: int = 0) -> Dict[str, float]:
        """Standard deviation of each metric across groups (NaN groups skipped; population by default)."""
        out = {}
        for m in self.metrics:
            v = self.by_group[m]
            v = v[~torch.isnan(v)]
            out[m] = float(v.std(correction=ddof)) if v.numel() > ddof else float("nan")
        return out

    def skewed_error_ratio(self) -> Dict[str, float]:
        """SER = max_g error_g / min_g error_g, error = 1 - m for higher-is-better metrics
        (accuracy, TPR, AUROC, ...) and m for error metrics (FPR, FNR, ECE, ...); NaN if undirected."""
        out = {}
        for m in self.metrics:
            hib = GM.higher_is_better(m) if isinstance(m, str) else True
            if hib is None:
                out[m] = float("nan")
                continue
            err = 1 - self.by_group[m] if hib else self.by_group[m]
            out[m] = float(A.group_max(err) / A.group_min(err))
        return out

    def worst_group(self) -> Dict[str, Optional[Tuple]]:
        """Per metric the group with the worst value (min if higher is better, else max)."""
        out: Dict[str, Optional[Tuple]] = {}
        for m in self.metrics:
            v = self.by_group[m]
            hib = GM.higher_is_better(m)
            if hib is None or bool(torch.isnan(v).all()):
                out[m] = None
                continue
            filled = torch.where(torch.isnan(v), torch.full_like(v, math.inf if hib else -math.inf), v)
            out[m] = self.groups[int(filled.argmin() if hib else filled.argmax())]
        return out

    # fairness summaries ---------------------------------------------------------------
    def demographic_parity(self, method: str = "between_groups") -> Tuple[float, float]:
        """(difference, ratio) of selection rate."""
        self._need("selection_rate")
        return self.difference(method)["selection_rate"], self.ratio(method)["selection_rate"]

    def equalized_odds(self, method: str = "between_groups", agg: str = "worst_case") -> Tuple[float, float]:
        """(difference, ratio) over TPR and FPR: worst case (max diff / min ratio) or ``agg="mean"``."""
        self._need("tpr", "fpr")
        d = [self.difference(method)[k] for k in ("tpr", "fpr")]
        r = [self.ratio(method)[k] for k in ("tpr", "fpr")]
        if agg == "worst_case":
            return max(d), min(r)
        if agg == "mean":
            return (d[0] + d[1]) / 2, (r[0] + r[1]) / 2
        raise ValueError(f"agg must be worst_case|mean, got {agg!r}")

    # confidence intervals ------------------------------------------------------------
    def _q(self, x: torch.Tensor, nan_skip: bool) -> List[Any]:
        arr = x.numpy()
        f = np.nanquantile if nan_skip else np.quantile
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = f(arr, self.ci_quantiles, axis=0)
        return [r if np.ndim(r) else float(r) for r in res]

    def _need_ci(self) -> None:
        if not self.replicates:
            raise RuntimeError("no bootstrap: pass n_boot= and ci_quantiles=")

    def overall_ci(self) -> Dict[str, List[float]]:
        """Per metric, one value per ``ci_quantiles`` entry (``np.quantile`` over replicates)."""
        self._need_ci()
        return {m: self._q(self.replicates[m][0], False) for m in self.metrics}

    def by_group_ci(self) -> Dict[str, List[np.ndarray]]:
        """Per metric, a (G,) array per quantile (``np.nanquantile``: absent groups skipped)."""
        self._need_ci()
        return {m: self._q(self.replicates[m][1], True) for m in self.metrics}

    def difference_ci(self, method: str = "between_groups") -> Dict[str, List[float]]:
        """Quantiles of ``difference(method)`` over replicates."""
        self._need_ci()
        return {m: self._q(A.difference(r[1], r[0], method), False) for m, r in self.replicates.items()}

    def ratio_ci(self, method: str = "between_groups") -> Dict[str, List[float]]:
        """Quantiles of ``ratio(method)`` over replicates."""
        self._need_ci()
        return {m: self._q(A.ratio(r[1], r[0], method), False) for m, r in self.replicates.items()}

    def group_min_ci(self) -> Dict[str, List[float]]:
        """Quantiles of ``group_min`` over replicates."""
        self._need_ci()
        return {m: self._q(A.group_min(r[1]), False) for m, r in self.replicates.items()}

    def group_max_ci(self) -> Dict[str, List[float]]:
        """Quantiles of ``group_max`` over replicates."""
        self._need_ci()
        return {m: self._q(A.group_max(r[1]), False) for m, r in self.replicates.items()}

    # outputs -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (floats and lists)."""
        return {
            "groups": [list(g) for g in self.groups],
            "sensitive_features": list(self.feature_names),
            "overall": dict(self.overall),
            "by_group": {m: self.by_group[m].tolist() for m in self.metrics},
            "count": self.counts.tolist(),
            "difference": self.difference(),
            "ratio": self.ratio(),
            "group_min": self.group_min(),
            "group_max": self.group_max(),
        }

    def to_pandas(self):  # -> pandas.DataFrame
        """``by_group`` as a DataFrame indexed like fairlearn's (MultiIndex for several features)."""
        import pandas as pd

        if len(self.feature_names) == 1:
            index = pd.Index([g[0] for g in self.groups], name=self.feature_names[0])
        else:
            index = pd.MultiIndex.from_tuples(self.groups, names=self.feature_names)
        return pd.DataFrame({m: self.by_group[m].numpy() for m in self.metrics}, index=index)

    def __str__(self) -> str:
        labels = [group_label(g) for g in self.groups] + ["overall", "difference", "ratio"]
        w0 = max(len(x) for x in labels + ["group"]) + 2
        cols = [m[:14] for m in self.metrics]
        head = "group".ljust(w0) + "".join(c.rjust(15) for c in cols)
        diff, rat = self.difference(), self.ratio()
        rows = [head, "-" * len(head)]
        for i, g in enumerate(self.groups):
            rows.append(group_label(g).ljust(w0) + "".join(f"{float(self.by_group[m][i]):15.4f}" for m in self.metrics))
        rows.append("-" * len(head))
        for lab, src in (("overall", self.overall), ("difference", diff), ("ratio", rat)):
            rows.append(lab.ljust(w0) + "".join(f"{float(src[m]):15.4f}" for m in self.metrics))
        return "\n".join(rows)

    __repr__ = __str__


# --------------------------------------------------------------------------- streaming state


class GroupMetrics(Metric):
    """Streaming group metrics over G known groups; ``compute()`` -> ``GroupReport``.

    ``update(y_true, y_score=None, y_pred=None, groups=codes (N,) int64, sample_weight=None)``.
    Built-in metric names: accuracy, balanced_accuracy, tpr, fnr, fpr, tnr, ppv, selection_rate,
    count, auroc, ece (fixed [0, 1] bins, torchmetrics), ece_data_range (MEDFAIR per-group range
    bins), brier, nll; or callables ``fn(y_true, y_pred, [sample_weight=])`` (``ScoreMetric(fn)``
    to receive scores).
    """

    def __init__(self, groups: Union[int, Sequence[Tuple]], metrics: Sequence[MetricArg] = DEFAULT_METRICS, *,
                 feature_names: Sequence[str] = ("group",), threshold: Union[float, str] = 0.5,
                 pos_label: Any = None, zero_division: Union[str, float] = "warn", min_group_size: int = 1,
                 n_bins: int = 15, data_range_bins: int = 10, keep_rows: bool = False) -> None:
        super().__init__()
        self.groups = [(g,) for g in range(groups)] if isinstance(groups, int) else [tuple(g) for g in groups]
        self.G = len(self.groups)
        self.feature_names = list(feature_names)
        self.metric_args = list(metrics)
        self.names = [m if callable(m) else GM.canonical(m) for m in metrics]
        self.labels = [getattr(m, "__name__", "metric") if callable(m) else m for m in self.names]
        builtin = [m for m in self.names if not callable(m)]
        self.need = GM.needs(builtin)
        self.threshold, self.pos_label = threshold, pos_label
        self.zero_division, self.min_group_size = zero_division, min_group_size
        self.n_bins, self.data_range_bins = n_bins, data_range_bins
        self.row_based = bool(self.need["auroc"] or self.need["tpr_at_spec"] or self.need["ece_data_range"])
        self.keep_rows = keep_rows or threshold == "best_f1" or self.row_based or any(callable(m) for m in self.names)
        self.needs_score = any(GM.is_score_metric(m) for m in builtin) or threshold == "best_f1" or \
            any(isinstance(m, GM.ScoreMetric) for m in self.names)
        G = self.G
        self.add_state("count", torch.zeros(G, dtype=torch.float64), "sum")
        self.add_state("conf", torch.zeros(G, 4, dtype=torch.float64), "sum")
        self.add_state("cal", torch.zeros(G, n_bins + 1, 3, dtype=torch.float64), "sum")
        self.add_state("sq", torch.zeros(G, 3, dtype=torch.float64), "sum")
        for name in ("rows_y", "rows_pred", "rows_score", "rows_code", "rows_w"):
            self.add_state(name, [], "cat")

    # ----------------------------------------------------------------------------------
    def _validate(self, y_true, y_score, y_pred, groups, sample_weight):
        y = _tensor(y_true, "y_true")
        s = _tensor(y_score, "y_score")
        p = _tensor(y_pred, "y_pred")
        g = _tensor(groups, "groups")
        w = _tensor(sample_weight, "sample_weight")
        check_same_n(y_true=y, y_score=s, y_pred=p, groups=g, sample_weight=w)
        if s is None and p is None:
            raise InputError("give y_score= (probabilities) and/or y_pred= (decisions)")
        if s is None and self.needs_score:
            raise InputError("y_score= (probabilities) is needed for auroc / calibration / best_f1 metrics")
        yb = binarise("y_true", y, self.pos_label)
        if s is not None:
            s = s.to(torch.float64)
            check_finite("y_score", s[:, None])
            if self.needs_score or p is None:
                check_probabilities("y_score", s)
        if p is not None:
            pb = binarise("y_pred", p, self.pos_label)
        elif self.threshold == "best_f1":
            pb = torch.zeros_like(yb)  # decided in compute()
        else:
            pb = s >= float(self.threshold)
        if g.is_floating_point() or bool(((g < 0) | (g >= self.G)).any()):
            raise InputError(f"groups must be integer codes in [0, {self.G})")
        if w is None:
            w = torch.ones(y.numel(), dtype=torch.float64)
        else:
            w = w.to(torch.float64)
            if not bool((torch.isfinite(w) & (w >= 0)).all()):
                raise InputError("sample_weight must be finite and non-negative")
        return yb, s, pb, g.to(torch.int64), w

    def update(self, y_true, y_score=None, y_pred=None, groups=None, sample_weight=None) -> None:  # type: ignore[override]
        """Add a batch of N rows. y_true/y_score/y_pred/groups/sample_weight: (N,)."""
        if groups is None:
            raise InputError("groups= (integer group codes, (N,)) is required")
        y, s, p, g, w = self._validate(y_true, y_score, y_pred, groups, sample_weight)
        ones = torch.ones(1, y.numel(), dtype=torch.float64)
        need = dict(self.need, auroc=False, ece_data_range=False, tpr_at_spec=[])
        st = GM.row_stats(y, p, s, g, self.G, ones, w, need, self.n_bins, self.data_range_bins)
        self.count = self.count + st["count"][0]
        self.conf = self.conf + st["conf"][0]
        if "cal" in st:
            self.cal = self.cal + st["cal"][0]
        if "sq" in st:
            self.sq = self.sq + st["sq"][0]
        if self.keep_rows:
            self.rows_y.append(y)
            self.rows_pred.append(p)
            self.rows_score.append(s if s is not None else torch.zeros(0, dtype=torch.float64))
            self.rows_code.append(g)
            self.rows_w.append(w)
        self._mark_updated()

    # ----------------------------------------------------------------------------------
    def _rows(self):
        y = self.cat_state("rows_y", torch.zeros(0, dtype=torch.bool))
        p = self.cat_state("rows_pred", torch.zeros(0, dtype=torch.bool))
        s = self.cat_state("rows_score", torch.zeros(0, dtype=torch.float64))
        g = self.cat_state("rows_code", torch.zeros(0, dtype=torch.int64))
        w = self.cat_state("rows_w", torch.zeros(0, dtype=torch.float64))
        return y, p, (s if s.numel() == y.numel() else None), g, w

    def _values(self, st: Dict[str, torch.Tensor], rows, M: torch.Tensor, overall: bool, warn: bool):
        out = {}
        small = (st["count"] > 0) & (st["count"] < self.min_group_size)
        for name, label in zip(self.names, self.labels):
            if callable(name):
                v = _callable_values(name, rows, M, 1 if overall else self.G, overall)
                undefined, reason = torch.zeros_like(v, dtype=torch.bool), ""
            else:
                v, undefined, reason = GM.values(name, st)
            fill = name in GM.RATES and not isinstance(self.zero_division, str)
            if fill:
                v = torch.where(undefined, torch.full_like(v, float(self.zero_division)), v)
            else:
                v = torch.where(undefined, torch.full_like(v, float("nan")), v)
            if name != "count":
                v = torch.where(small, torch.full_like(v, float("nan")), v)
            if warn and not overall:
                self._warn(label, undefined[0] & ~fill, reason, st["count"][0])
            out[label] = v
        if warn and not overall and bool(small.any()):
            self._warn("all metrics", small[0], f"fewer than min_group_size={self.min_group_size} rows",
                       st["count"][0])
        return out

    def _warn(self, label: str, mask: torch.Tensor, reason: str, count: torch.Tensor) -> None:
        if not bool(mask.any()):
            return
        which = [f"{group_label(self.groups[i])} (n={int(count[i])})" for i in torch.nonzero(mask).flatten().tolist()]
        hint = "; pass zero_division=0.0 to reproduce fairlearn" if label in GM.RATES else ""
        warnings.warn(f"{label} is undefined ({reason}) for group(s) {', '.join(which)}: NaN{hint}",
                      GroupMetricWarning, stacklevel=3)

    def _stats(self, rows, M: torch.Tensor, overall: bool, plan=None) -> Dict[str, torch.Tensor]:
        y, p, s, g, w = rows
        G = 1 if overall else self.G
        codes = torch.zeros_like(g) if overall else g
        return GM.row_stats(y, p, s, codes, G, M, w, self.need, self.n_bins, self.data_range_bins, plan)

    def compute(self, n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                random_state: Optional[int] = None, bootstrap: str = "fairlearn",
                chunk: int = 16) -> GroupReport:
        """The report; with ``n_boot`` and ``ci_quantiles`` also bootstrap CIs (needs ``keep_rows``)."""
        rows = self._rows() if self.keep_rows else None
        if self.threshold == "best_f1":
            y, _, s, g, w = rows
            rows = (y, s > best_f1_threshold(y, s), s, g, w)
        if rows is not None and (self.threshold == "best_f1" or self.row_based):
            n = rows[0].numel()
            ones = torch.ones(1, n, dtype=torch.float64)
            gst = self._stats(rows, ones, overall=False)
            ost = self._stats(rows, ones, overall=True)
        else:
            gst = {k: getattr(self, k)[None] for k in ("count", "conf", "cal", "sq")}
            ost = GM.overall_from_group_stats(gst)
            ones = torch.ones(1, rows[0].numel(), dtype=torch.float64) if rows is not None else None
        by = self._values(gst, rows, ones, overall=False, warn=True)
        ov = self._values(ost, rows, ones, overall=True, warn=False)
        report_by = {m: by[m][0] for m in self.labels}
        report_ov = {m: float(ov[m][0, 0]) for m in self.labels}
        reps = None
        if n_boot:
            if rows is None:
                raise RuntimeError("bootstrap needs the rows: create GroupMetrics(..., keep_rows=True)")
            if not ci_quantiles:
                raise InputError("bootstrap needs both n_boot= and ci_quantiles=")
            reps = self._bootstrap(rows, n_boot, random_state, bootstrap, chunk)
        return GroupReport(self.labels, self.groups, self.feature_names, report_ov, report_by,
                           gst["count"][0], reps, ci_quantiles)

    def _bootstrap(self, rows, n_boot, random_state, mode, chunk):
        y, p, s, g, w = rows
        ranked = self.need["auroc"] or self.need["tpr_at_spec"]
        plan_g = S.auroc_plan(g, self.G, s) if ranked else None
        plan_o = S.auroc_plan(torch.zeros_like(g), 1, s) if ranked else None
        acc: Dict[str, List[Tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in self.labels}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GroupMetricWarning)
            for M in multiplicities(y.numel(), n_boot, random_state=random_state, mode=mode, codes=g, chunk=chunk):
                by = self._values(self._stats(rows, M, False, plan_g), rows, M, overall=False, warn=False)
                ov = self._values(self._stats(rows, M, True, plan_o), rows, M, overall=True, warn=False)
                for m in self.labels:
                    acc[m].append((ov[m][:, 0], by[m]))
        return {m: (torch.cat([a for a, _ in v]), torch.cat([b for _, b in v])) for m, v in acc.items()}


def _callable_values(fn: Callable, rows, M: torch.Tensor, G: int, overall: bool) -> torch.Tensor:
    """User metric per replicate and group (Python loop over groups; rows repeated by multiplicity)."""
    y, p, s, g, w = rows
    x = s if isinstance(fn, GM.ScoreMetric) else p
    yn, xn, gn, wn = y.numpy().astype(np.int64), x.numpy(), g.numpy(), w.numpy()
    xn = xn.astype(np.int64) if x.dtype == torch.bool else xn
    out = torch.full((M.shape[0], G), float("nan"), dtype=torch.float64)
    unit_w = bool((w == 1).all())
    for b in range(M.shape[0]):
        reps = M[b].numpy().astype(np.int64)
        for k in range(G):
            sel = (reps > 0) if overall else ((gn == k) & (reps > 0))
            if not sel.any():
                continue
            r = np.repeat(np.nonzero(sel)[0], reps[sel])
            kw = {} if unit_w else {"sample_weight": wn[r]}
            out[b, k] = float(fn(yn[r], xn[r], **kw))
    return out


# --------------------------------------------------------------------------- functional API


def group_report(y_true: Any, y_pred: Any = None, *, y_score: Any = None, sensitive_features: Any,
                 metrics: Sequence[MetricArg] = DEFAULT_METRICS, sample_weight: Any = None,
                 n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                 random_state: Optional[int] = None, bootstrap: str = "fairlearn", **options: Any) -> GroupReport:
    """Compute group metrics in one call (fairlearn ``MetricFrame``-like).

    Args:
        y_true: (N,) binary labels. y_pred: (N,) decisions, or None to threshold ``y_score``.
        y_score: (N,) probabilities of the positive class.
        sensitive_features: (N,), (N, F), list/dict of (N,) columns or a DataFrame; groups are
            the Cartesian product of the features' levels.
        metrics: built-in names or callables (see ``GroupMetrics``).
        sample_weight: (N,) non-negative weights.
        n_boot, ci_quantiles, random_state, bootstrap: bootstrap CIs (``fairlearn`` or ``stratified``).
        options: ``threshold``, ``pos_label``, ``zero_division``, ``min_group_size``, ``n_bins``,
            ``data_range_bins`` (see ``GroupMetrics``).
    Returns:
        ``GroupReport``.
    """
    codes, groups, names = encode_groups(sensitive_features)
    gm = GroupMetrics(groups, metrics, feature_names=names, keep_rows=bool(n_boot), **options)
    gm.update(y_true, y_score=y_score, y_pred=y_pred, groups=codes, sample_weight=sample_weight)
    return gm.compute(n_boot=n_boot, ci_quantiles=ci_quantiles, random_state=random_state, bootstrap=bootstrap)


def scores_by_group(scores: Any, *, sensitive_features: Any, name: str = "score",
                    n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                    random_state: Optional[int] = None, bootstrap: str = "fairlearn") -> GroupReport:
    """Mean of per-sample scores per group (NaN scores skipped), e.g. localisation scores by sex.

    Args:
        scores: (N,) per-sample values (e.g. ``fastxai.eval.pointing_game(...)``).
        sensitive_features: as in ``group_report``.
    Returns:
        ``GroupReport`` with metrics ``name`` (mean over samples with a defined score) and
        ``count`` (samples with a defined score); bootstrap CIs as in ``group_report``.
    """
    codes, groups, names = encode_groups(sensitive_features)
    s = _tensor(scores, "scores").to(torch.float64)
    check_same_n(scores=s, sensitive_features=codes)
    ok = ~torch.isnan(s)
    if bool(torch.isinf(s).any()):
        raise InputError(f"scores has Inf at rows {torch.nonzero(torch.isinf(s)).flatten()[:10].tolist()}")
    vals = torch.where(ok, s, torch.zeros_like(s))
    G = len(groups)

    def table(M: torch.Tensor, overall: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        c = torch.zeros_like(codes) if overall else codes
        g = 1 if overall else G
        tot = S.group_sums(c, g, M * vals)
        cnt = S.group_sums(c, g, M * ok)
        return torch.where(cnt > 0, tot / cnt.clamp(min=1), torch.full_like(tot, float("nan"))), cnt

    ones = torch.ones(1, s.numel(), dtype=torch.float64)
    by, cnt = table(ones, False)
    ov, ocnt = table(ones, True)
    reps = None
    if n_boot:
        if not ci_quantiles:
            raise InputError("bootstrap needs both n_boot= and ci_quantiles=")
        acc: List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for M in multiplicities(s.numel(), n_boot, random_state=random_state, mode=bootstrap, codes=codes):
            b, bc = table(M, False)
            o, oc = table(M, True)
            acc.append((o[:, 0], b, oc[:, 0], bc))
        reps = {name: (torch.cat([a[0] for a in acc]), torch.cat([a[1] for a in acc])),
                "count": (torch.cat([a[2] for a in acc]), torch.cat([a[3] for a in acc]))}
    return GroupReport([name, "count"], groups, names, {name: float(ov[0, 0]), "count": float(ocnt[0, 0])},
                       {name: by[0], "count": cnt[0]}, cnt[0], reps, ci_quantiles)


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                  sample_weight=None, **options) -> float:
    """Selection-rate difference between groups (fairlearn semantics)."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["selection_rate"],
                        sample_weight=sample_weight, **options).difference(method)["selection_rate"]


def demographic_parity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                             sample_weight=None, **options) -> float:
    """Selection-rate ratio between groups (fairlearn semantics)."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["selection_rate"],
                        sample_weight=sample_weight, **options).ratio(method)["selection_rate"]


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                              sample_weight=None, agg="worst_case", **options) -> float:
    """max (or mean) of the TPR and FPR differences. fairlearn's value needs ``zero_division=0.0``."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr", "fpr"],
                        sample_weight=sample_weight, **options).equalized_odds(method, agg)[0]


def equalized_odds_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                         sample_weight=None, agg="worst_case", **options) -> float:
    """min (or mean) of the TPR and FPR ratios."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr", "fpr"],
                        sample_weight=sample_weight, **options).equalized_odds(method, agg)[1]


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                 sample_weight=None, **options) -> float:
    """TPR difference between groups."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr"],
                        sample_weight=sample_weight, **options).difference(method)["tpr"]
