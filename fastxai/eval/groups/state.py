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
from fastxai.eval.groups.bootstrap import check_bootstrap, multiplicities
from fastxai.eval.groups.encoding import group_label
from fastxai.eval.groups.engine import RowEngine, Rows, Spec, callable_values
from fastxai.eval.groups.inputs import best_f1_threshold, binary_labels, flat_tensor, nll_eps
from fastxai.eval.groups.report import GroupReport
from fastxai.eval.settings import canonical, digest
from fastxai.eval.state import Metric

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
        _check_options(self.groups, self.C, threshold, zero_division, min_group_size=min_group_size, n_bins=n_bins,
                       data_range_bins=data_range_bins, auroc_bins=auroc_bins)
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
        for name in ("rows_y", "rows_pred", "rows_score", "rows_code", "rows_w", "rows_eps"):
            self.add_state(name, [], "cat")

    # ---------------------------------------------------------------------------------- settings
    def settings(self) -> Dict[str, Any]:
        """Every option that changes the states or the report; ``groups`` is compared as a label
        set (states are aligned by label), ``controls`` likewise."""
        return {"metrics": list(self.names), "feature_names": list(self.feature_names),
                "threshold": self.threshold, "pos_label": self.pos_label, "zero_division": self.zero_division,
                "min_group_size": self.min_group_size, "n_bins": self.n_bins,
                "data_range_bins": self.data_range_bins, "auroc_bins": self.auroc_bins, "keep_rows": self.keep_rows,
                "controls": sorted(map(canonical, self.controls), key=repr)}

    def _aligned(self, other: Metric) -> Dict[str, Any]:
        """``other``'s states in this metric's group order, matched by group label (refused if the
        label sets differ)."""
        states = super()._aligned(other)
        if other.groups == self.groups:
            return states
        mine = {canonical(g): i for i, g in enumerate(self.groups)}
        theirs = [canonical(g) for g in other.groups]
        if set(theirs) != set(mine):
            only_here = [group_label(g) for g in self.groups if canonical(g) not in set(theirs)]
            only_there = [group_label(g) for g, c in zip(other.groups, theirs) if c not in mine]
            raise InputError(f"cannot merge: setting 'groups' differs (labels only here: {only_here[:10]}, "
                             f"only in the other: {only_there[:10]}); build both with the same groups=")
        to_mine = torch.tensor([mine[c] for c in theirs], dtype=torch.int64)  # other's index -> ours
        return _permute_groups(states, to_mine)

    def _sync_labels(self) -> List[Any]:
        return self.groups

    def _canonical_order(self) -> torch.Tensor:
        """Own group index at each canonical position (groups sorted by label digest)."""
        return torch.tensor(sorted(range(self.G), key=lambda i: digest(self.groups[i])), dtype=torch.int64)

    def _to_canonical(self) -> Dict[str, Any]:
        order = self._canonical_order()
        to_canon = torch.empty_like(order)
        to_canon[order] = torch.arange(self.G)
        return _permute_groups(super()._to_canonical(), to_canon)

    def _from_canonical(self, states: Dict[str, Any]) -> Dict[str, Any]:
        for part in states["rows_code"]:
            if part.numel() and (int(part.min()) < 0 or int(part.max()) >= self.G):
                raise InputError(f"sync: a rank sent group codes outside [0, {self.G})")
        return _permute_groups(states, self._canonical_order())

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
        eps = None
        if s is not None:
            eps = nll_eps(s)
            s = s.to(torch.float64)
            check_finite("y_score", s[:, None])
            if self.needs_score or pb is None:
                check_probabilities("y_score", s)
        if pb is None:
            # best_f1: decided in compute() from the pooled scores
            pb = torch.zeros_like(yb) if self.threshold == "best_f1" else s >= float(self.threshold)
        if g.is_floating_point() or g.dtype == torch.bool or bool(((g < 0) | (g >= self.G)).any()):
            raise InputError(f"groups must be integer codes in [0, {self.G})")
        if w is None:
            w = torch.ones(yb.numel(), dtype=torch.float64)
        else:
            w = w.to(torch.float64)
            if not bool((torch.isfinite(w) & (w >= 0)).all()):
                raise InputError("sample_weight must be finite and non-negative")
        return yb, s, pb, g.to(torch.int64), w, eps

    def update(self, y_true, y_score=None, y_pred=None, groups=None, sample_weight=None) -> None:  # type: ignore[override]
        """Add a batch of N rows. y_true/y_score/y_pred/groups/sample_weight: (N,)."""
        if groups is None:
            raise InputError("groups= (integer group codes, (N,)) is required")
        y, s, p, g, w, eps = self._validate(y_true, y_score, y_pred, groups, sample_weight)
        if not self._from_rows():  # else the report is computed from the rows alone
            ones = torch.ones(1, y.numel(), dtype=torch.float64)
            need = dict(self.need, auroc=False, ece_data_range=False, tpr_at_spec=[], tpr_at_spec_interp=[])
            st = GM.row_stats(y, p, s, g, self.G, ones, w, need, self.n_bins, self.data_range_bins,
                              auroc_bins=self.auroc_bins, eps=eps)
            for name in _GROUP_STATES:
                if name in st:
                    setattr(self, name, getattr(self, name) + st[name][0])
        if self.keep_rows:
            self.rows_y.append(y)
            self.rows_pred.append(p)
            self.rows_score.append(s if s is not None else torch.zeros(0, dtype=torch.float64))
            self.rows_code.append(g)
            self.rows_w.append(w)
            if self.need["sq"]:
                self.rows_eps.append(torch.full((y.numel(),), eps, dtype=torch.float64))
        self._mark_updated()

    # ----------------------------------------------------------------------------------
    def _rows(self):
        y = self.cat_state("rows_y", torch.zeros(0, dtype=torch.bool))
        p = self.cat_state("rows_pred", torch.zeros(0, dtype=torch.bool))
        s = self.cat_state("rows_score", torch.zeros(0, dtype=torch.float64))
        g = self.cat_state("rows_code", torch.zeros(0, dtype=torch.int64))
        w = self.cat_state("rows_w", torch.zeros(0, dtype=torch.float64))
        eps = self.cat_state("rows_eps", torch.zeros(0, dtype=torch.float64))
        return Rows(y, p, (s if s.numel() == y.numel() else None), g, w, eps if eps.numel() == y.numel() else None)

    def _values(self, st: Dict[str, torch.Tensor], rows, M: torch.Tensor, overall: bool, warn: bool):
        out = {}
        small = (st["count"] > 0) & (st["count"] < self.min_group_size)
        for name, label in zip(self.names, self.labels):
            if callable(name):
                codes, n = self._codes(rows.g, overall)
                v = callable_values(name, rows, M, codes, n)
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

    def _spec(self) -> Spec:
        return Spec(self.G, self.C, self.need, self.n_bins, self.data_range_bins, self.auroc_bins,
                    any(callable(n) for n in self.names))

    def compute(self, n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                random_state: Optional[int] = None, bootstrap: str = "fairlearn",
                chunk: int = 16) -> GroupReport:
        """The report; with ``n_boot`` (>= 1) and ``ci_quantiles`` (in (0, 1)) also bootstrap CIs (needs
        ``keep_rows``); ``chunk`` replicates are computed at a time."""
        boot = check_bootstrap(n_boot, ci_quantiles, bootstrap, chunk)
        if boot and not self.keep_rows:
            raise RuntimeError("bootstrap needs the rows: create GroupMetrics(..., keep_rows=True)")
        rows = self._rows() if self.keep_rows else None
        if self.threshold == "best_f1":
            rows = rows._replace(p=rows.s > best_f1_threshold(rows.y, rows.s))
        engine = RowEngine(self._spec(), rows) if rows is not None and (boot or self._from_rows()) else None
        ones = None if rows is None else torch.ones(1, rows.y.numel(), dtype=torch.float64)
        if self._from_rows():
            gst, ost = engine.stats(ones)
        else:
            gst = {k: getattr(self, k)[None] for k in _GROUP_STATES}
            ost = GM.overall_from_group_stats(gst, self.C)
        by = self._values(gst, rows, ones, overall=False, warn=True)
        ov = self._values(ost, rows, ones, overall=True, warn=False)
        reps = self._bootstrap(engine, n_boot, random_state, bootstrap, chunk) if boot else None
        return GroupReport(self.labels, self.groups, self.feature_names, {m: ov[m][0] for m in self.labels},
                           {m: by[m][0] for m in self.labels}, gst["count"][0], reps, ci_quantiles, self.controls)

    def _from_rows(self) -> bool:
        """True when the report comes from the kept rows (row-based metrics, best-F1 decisions); the
        fixed-size states are then not kept up to date by ``update``."""
        return self.threshold == "best_f1" or self.row_based

    def _bootstrap(self, engine: RowEngine, n_boot, random_state, mode, chunk):
        rows = engine.rows
        acc: Dict[str, List[Tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in self.labels}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GroupMetricWarning)
            for M in multiplicities(rows.y.numel(), n_boot, random_state=random_state, mode=mode, codes=rows.g,
                                    chunk=chunk, as_counts=engine.counts_dtype == torch.int64):
                st_g, st_o = engine.stats(M)  # int64 multiplicities for the walk (numpy's bincount + one
                by = self._values(st_g, rows, M, overall=False, warn=False)  # gather beat counting drawn
                ov = self._values(st_o, rows, M, overall=True, warn=False)  # indices in the kernel, measured)
                for m in self.labels:
                    acc[m].append((ov[m], by[m]))
        return {m: (torch.cat([a for a, _ in v]), torch.cat([b for _, b in v])) for m, v in acc.items()}


def _check_options(groups: List[Tuple], n_control: int, threshold: Any, zero_division: Any, **counts: int) -> None:
    """Refuse bad GroupMetrics options at construction, naming the argument."""
    if len(set(map(canonical, groups))) != len(groups):
        raise InputError("groups has duplicate labels (each group label must be unique)")
    if len(groups) % n_control:
        raise InputError(f"{len(groups)} groups cannot be split into {n_control} control levels")
    for name, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name} must be an integer >= 1, got {v!r}")
    if isinstance(threshold, str):
        if threshold != "best_f1":
            raise InputError(f"threshold must be a number in [0, 1] or 'best_f1', got {threshold!r}")
    elif not 0 <= float(threshold) <= 1:
        raise InputError(f"threshold must be a number in [0, 1] or 'best_f1', got {threshold!r}")
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise InputError(f"zero_division must be 'warn' or a number, got {zero_division!r}")
    elif not isinstance(zero_division, (int, float, np.number)):
        raise InputError(f"zero_division must be 'warn' or a number, got {zero_division!r}")


_GROUP_STATES = ("count", "conf", "cal", "sq", "hist")


def _permute_groups(states: Dict[str, Any], new_index: torch.Tensor) -> Dict[str, Any]:
    """States with their group axis rearranged: the group at index i moves to ``new_index[i]``
    (sum states along dim 0; group codes of the kept rows remapped)."""
    out = dict(states)
    for name in _GROUP_STATES:
        moved = torch.empty_like(states[name])
        moved[new_index] = states[name]
        out[name] = moved
    out["rows_code"] = [new_index[c] for c in states["rows_code"]]
    return out
