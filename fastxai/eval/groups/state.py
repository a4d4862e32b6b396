"""``GroupMetrics``: the streaming (mergeable) state behind ``group_report``.

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

import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from fastxai.eval.errors import InputError, check_finite, check_probabilities, check_same_n
from fastxai.eval.groups import metrics as GM
from fastxai.eval.groups import stats as S
from fastxai.eval.groups.bootstrap import multiplicities
from fastxai.eval.groups.encoding import group_label
from fastxai.eval.groups.inputs import best_f1_threshold, binary_labels, flat_tensor
from fastxai.eval.groups.report import GroupReport
from fastxai.eval.state import Metric
from fastxai.ops import eval_boot_walk

MetricArg = Union[str, Callable]
DEFAULT_METRICS = ("accuracy", "tpr", "fpr", "selection_rate", "count")


class GroupMetricWarning(UserWarning):
    """A group metric is undefined for some groups (NaN returned)."""




class GroupMetrics(Metric):
    """Streaming group metrics over G known groups; ``compute()`` -> ``GroupReport``.

    ``update(y_true, y_score=None, y_pred=None, groups=codes (N,) int64, sample_weight=None)``.
    With ``controls`` (C control levels) the G groups are control-major (code = control * S + sensitive)
    and "overall" is per control level (fairlearn's ``control_features``).
    Built-in metric names: accuracy, balanced_accuracy, tpr, fnr, fpr, tnr, ppv, selection_rate,
    count, auroc, tpr_at_spec_<s> (torchmetrics), tpr_at_spec_interp_<s> (MEDFAIR), auroc_binned /
    auroc_binned_bound (fixed-size (G, auroc_bins, 2) state, approximate with a stated bound), ece
    (fixed [0, 1] bins, torchmetrics), ece_data_range (MEDFAIR per-group range bins), brier, nll; or
    callables ``fn(y_true, y_pred, [sample_weight=])`` (``ScoreMetric(fn)`` to receive scores).
    """

    def __init__(self, groups: Union[int, Sequence[Tuple]], metrics: Sequence[MetricArg] = DEFAULT_METRICS, *,
                 feature_names: Sequence[str] = ("group",), threshold: Union[float, str] = 0.5,
                 pos_label: Any = None, zero_division: Union[str, float] = "warn", min_group_size: int = 1,
                 n_bins: int = 15, data_range_bins: int = 10, auroc_bins: int = 1000,
                 keep_rows: bool = False, controls: Optional[Sequence[Tuple]] = None) -> None:
        super().__init__()
        self.groups = [(g,) for g in range(groups)] if isinstance(groups, int) else [tuple(g) for g in groups]
        self.G = len(self.groups)
        self.controls = [tuple(c) for c in controls] if controls else [()]
        self.C = len(self.controls)
        if self.G % self.C:
            raise InputError(f"{self.G} groups cannot be split into {self.C} control levels")
        self.S = self.G // self.C
        self.feature_names = list(feature_names)
        self.names = [m if callable(m) else GM.canonical(m) for m in metrics]
        self.labels = [getattr(m, "__name__", "metric") if callable(m) else m for m in self.names]
        builtin = [m for m in self.names if not callable(m)]
        self.need = GM.needs(builtin)
        self.threshold, self.pos_label = threshold, pos_label
        self.zero_division, self.min_group_size = zero_division, min_group_size
        self.n_bins, self.data_range_bins, self.auroc_bins = n_bins, data_range_bins, auroc_bins
        self.row_based = bool(self.need["auroc"] or self.need["tpr_at_spec"] or self.need["tpr_at_spec_interp"]
                              or self.need["ece_data_range"])
        self.keep_rows = keep_rows or threshold == "best_f1" or self.row_based or any(callable(m) for m in self.names)
        self.needs_score = any(GM.is_score_metric(m) for m in builtin) or threshold == "best_f1" or \
            any(isinstance(m, GM.ScoreMetric) for m in self.names)
        G = self.G
        self.add_state("count", torch.zeros(G, dtype=torch.float64), "sum")
        self.add_state("conf", torch.zeros(G, 4, dtype=torch.float64), "sum")
        self.add_state("cal", torch.zeros(G, n_bins + 1, 3, dtype=torch.float64), "sum")
        self.add_state("sq", torch.zeros(G, 3, dtype=torch.float64), "sum")
        self.add_state("hist", torch.zeros(G, auroc_bins if self.need["hist"] else 0, 2, dtype=torch.float64), "sum")
        for name in ("rows_y", "rows_pred", "rows_score", "rows_code", "rows_w"):
            self.add_state(name, [], "cat")

    # ----------------------------------------------------------------------------------
    def _validate(self, y_true, y_score, y_pred, groups, sample_weight):
        yb = binary_labels(y_true, "y_true", self.pos_label)
        s = flat_tensor(y_score, "y_score")
        pb = binary_labels(y_pred, "y_pred", self.pos_label)
        g = flat_tensor(groups, "groups")
        w = flat_tensor(sample_weight, "sample_weight")
        check_same_n(y_true=yb, y_score=s, y_pred=pb, groups=g, sample_weight=w)
        if s is None and pb is None:
            raise InputError("give y_score= (probabilities) and/or y_pred= (decisions)")
        if s is None and self.needs_score:
            raise InputError("y_score= (probabilities) is needed for auroc / calibration / best_f1 metrics")
        if s is not None:
            s = s.to(torch.float64)
            check_finite("y_score", s[:, None])
            if self.needs_score or pb is None:
                check_probabilities("y_score", s)
        if pb is None:
            # best_f1: decided in compute() from the pooled scores
            pb = torch.zeros_like(yb) if self.threshold == "best_f1" else s >= float(self.threshold)
        if g.is_floating_point() or bool(((g < 0) | (g >= self.G)).any()):
            raise InputError(f"groups must be integer codes in [0, {self.G})")
        if w is None:
            w = torch.ones(yb.numel(), dtype=torch.float64)
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
        need = dict(self.need, auroc=False, ece_data_range=False, tpr_at_spec=[], tpr_at_spec_interp=[])
        st = GM.row_stats(y, p, s, g, self.G, ones, w, need, self.n_bins, self.data_range_bins,
                          auroc_bins=self.auroc_bins)
        self.count = self.count + st["count"][0]
        self.conf = self.conf + st["conf"][0]
        if "cal" in st:
            self.cal = self.cal + st["cal"][0]
        if "sq" in st:
            self.sq = self.sq + st["sq"][0]
        if "hist" in st:
            self.hist = self.hist + st["hist"][0]
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
                codes, n = self._codes(rows[3], overall)
                v = _callable_values(name, rows, M, codes, n)
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

    def _codes(self, g: torch.Tensor, overall: bool) -> Tuple[torch.Tensor, int]:
        """Row codes and their count: groups, or control levels (one level without control features)."""
        return (g // self.S, self.C) if overall else (g, self.G)

    def _stats(self, rows, M: torch.Tensor, overall: bool, plan=None) -> Dict[str, torch.Tensor]:
        y, p, s, g, w = rows
        codes, G = self._codes(g, overall)
        return GM.row_stats(y, p, s, codes, G, M, w, self.need, self.n_bins, self.data_range_bins, plan,
                            auroc_bins=self.auroc_bins)

    def compute(self, n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                random_state: Optional[int] = None, bootstrap: str = "fairlearn",
                chunk: int = 16) -> GroupReport:
        """The report; with ``n_boot`` and ``ci_quantiles`` also bootstrap CIs (needs ``keep_rows``)."""
        rows = self._rows() if self.keep_rows else None
        if self.threshold == "best_f1":
            y, _, s, g, w = rows
            rows = (y, s > best_f1_threshold(y, s), s, g, w)
        plans = self._plans(rows) if rows is not None else (None, None)
        if rows is not None and (self.threshold == "best_f1" or self.row_based):
            n = rows[0].numel()
            ones = torch.ones(1, n, dtype=torch.float64)
            gst = self._stats(rows, ones, overall=False, plan=plans[0])
            ost = self._stats(rows, ones, overall=True, plan=plans[1])
        else:
            gst = {k: getattr(self, k)[None] for k in ("count", "conf", "cal", "sq", "hist")}
            ost = GM.overall_from_group_stats(gst, self.C)
            ones = torch.ones(1, rows[0].numel(), dtype=torch.float64) if rows is not None else None
        by = self._values(gst, rows, ones, overall=False, warn=True)
        ov = self._values(ost, rows, ones, overall=True, warn=False)
        report_by = {m: by[m][0] for m in self.labels}
        report_ov = {m: ov[m][0] for m in self.labels}
        reps = None
        if n_boot:
            if rows is None:
                raise RuntimeError("bootstrap needs the rows: create GroupMetrics(..., keep_rows=True)")
            if not ci_quantiles:
                raise InputError("bootstrap needs both n_boot= and ci_quantiles=")
            reps = self._bootstrap(rows, n_boot, random_state, bootstrap, chunk, plans)
        return GroupReport(self.labels, self.groups, self.feature_names, report_ov, report_by,
                           gst["count"][0], reps, ci_quantiles, self.controls)

    def _plans(self, rows) -> Tuple[Optional[S.AurocPlan], Optional[S.AurocPlan]]:
        """Per-group and overall AUROC plans sharing one sort of the scores (None if not needed)."""
        if not (self.need["auroc"] or self.need["tpr_at_spec"] or self.need["tpr_at_spec_interp"]):
            return None, None
        _, _, s, g, _ = rows
        order = torch.sort(s, stable=True).indices
        codes_o, n_o = self._codes(g, overall=True)
        return S.auroc_plan(g, self.G, s, order), S.auroc_plan(codes_o, n_o, s, order)

    def _walkable(self) -> bool:
        """True when every statistic the metrics need comes out of the C++ bootstrap walk
        (counts, confusion cells, exact AUROC) and no user callable is involved."""
        extra = self.need["cal"] or self.need["sq"] or self.need["hist"] or self.need["tpr_at_spec"] \
            or self.need["tpr_at_spec_interp"] \
            or self.need["ece_data_range"]
        return not extra and not any(callable(n) for n in self.names) and eval_boot_walk.available()

    def _bootstrap(self, rows, n_boot, random_state, mode, chunk, plans):
        y, p, s, g, w = rows
        plan_g, plan_o = plans
        acc: Dict[str, List[Tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in self.labels}
        walk = self._walkable() and y.numel() < eval_boot_walk.MAX_ROWS
        if walk:  # rows arranged once in the overall plan's order; each replicate is one pass
            codes_o, n_o = self._codes(g, overall=True)
            wr = eval_boot_walk.walk_rows(y, p, w, s, g, self.G, codes_o, n_o,
                                          None if plan_o is None else plan_o.order)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GroupMetricWarning)
            for M in multiplicities(y.numel(), n_boot, random_state=random_state, mode=mode, codes=g, chunk=chunk,
                                    as_counts=walk):
                if walk:  # int64 multiplicities (numpy's bincount + one gather beat counting the
                    st_g, st_o = eval_boot_walk.boot_walk(wr, M)  # drawn indices in the kernel, measured)
                else:
                    st_g, st_o = self._stats(rows, M, False, plan_g), self._stats(rows, M, True, plan_o)
                by = self._values(st_g, rows, M, overall=False, warn=False)
                ov = self._values(st_o, rows, M, overall=True, warn=False)
                for m in self.labels:
                    acc[m].append((ov[m], by[m]))
        return {m: (torch.cat([a for a, _ in v]), torch.cat([b for _, b in v])) for m, v in acc.items()}


def _callable_values(fn: Callable, rows, M: torch.Tensor, codes: torch.Tensor, G: int) -> torch.Tensor:
    """User metric per replicate and code (Python loop over codes; rows repeated by multiplicity)."""
    y, p, s, _, w = rows
    x = s if isinstance(fn, GM.ScoreMetric) else p
    yn, xn, gn, wn = y.numpy().astype(np.int64), x.numpy(), codes.numpy(), w.numpy()
    xn = xn.astype(np.int64) if x.dtype == torch.bool else xn
    out = torch.full((M.shape[0], G), float("nan"), dtype=torch.float64)
    unit_w = bool((w == 1).all())
    for b in range(M.shape[0]):
        reps = M[b].numpy().astype(np.int64)
        for k in range(G):
            sel = (gn == k) & (reps > 0)
            if not sel.any():
                continue
            r = np.repeat(np.nonzero(sel)[0], reps[sel])
            kw = {} if unit_w else {"sample_weight": wn[r]}
            out[b, k] = float(fn(yn[r], xn[r], **kw))
    return out


