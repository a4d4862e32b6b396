"""``GroupReport``: group metrics with fairlearn ``MetricFrame``'s aggregations, CIs and outputs.

Built by ``fastxai.eval.groups`` (``group_report``, ``GroupMetrics.compute``, ``scores_by_group``).
Aggregations skip NaN groups (pandas semantics); CIs use fairlearn's quantile rules
(``np.nanquantile`` per group, ``np.quantile`` for scalar summaries).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from fastxai.eval.groups import aggregates as A
from fastxai.eval.groups import metrics as GM
from fastxai.eval.groups.encoding import group_label


Summary = Union[float, Dict[Tuple, float]]


class GroupReport:
    """Metrics overall and by group, with fairlearn's aggregations and optional bootstrap CIs.

    Without control features: ``overall[m]`` is a float, ``by_group[m]`` a (G,) tensor and every
    aggregation returns ``{metric: float}``. With C control levels (fairlearn's ``control_features``)
    groups are (control..., sensitive...) tuples in control-major order, ``overall[m]`` is a
    ``{control level: float}`` dict, and aggregations are per control level
    (``{metric: {control level: float}}``).
    """

    def __init__(self, metrics: List[str], groups: List[Tuple], feature_names: List[str],
                 overall: Dict[str, torch.Tensor], by_group: Dict[str, torch.Tensor], counts: torch.Tensor,
                 replicates: Optional[Dict[str, Tuple[torch.Tensor, torch.Tensor]]] = None,
                 ci_quantiles: Sequence[float] = (), controls: Optional[List[Tuple]] = None) -> None:
        """overall: metric -> (C,) tensor; by_group: metric -> (G,) tensor, G = C * S;
        replicates: metric -> ((B, C) overall, (B, G) by group)."""
        self.metrics, self.groups, self.feature_names = metrics, groups, feature_names
        self.controls = controls or [()]
        self.by_group, self.counts = by_group, counts
        self._overall = {m: torch.as_tensor(v, dtype=torch.float64).reshape(len(self.controls)) for m, v in overall.items()}
        self.overall = {m: self._out(v) for m, v in self._overall.items()}
        self.replicates = replicates or {}
        self.ci_quantiles = list(ci_quantiles)

    # helpers ---------------------------------------------------------------------------
    @property
    def n_control(self) -> int:
        """Number of control levels C (1 without control features)."""
        return len(self.controls)

    def _cs(self, v: torch.Tensor) -> torch.Tensor:
        """(..., G) -> (..., C, S)."""
        return v.reshape(*v.shape[:-1], self.n_control, -1)

    def _out(self, v: torch.Tensor) -> Summary:
        """(C,) -> float (C = 1) or {control level: float}."""
        if self.n_control == 1:
            return float(v.reshape(-1)[0])
        return {c: float(x) for c, x in zip(self.controls, v.tolist())}

    def _need(self, *names: str) -> None:
        missing = [n for n in names if n not in self.by_group]
        if missing:
            raise ValueError(f"this summary needs metrics {missing}; add them to metrics=")

    def _agg(self, kind: str, m: str, method: str = "between_groups") -> torch.Tensor:
        """(C,) aggregation of metric m."""
        v, ov = self._cs(self.by_group[m]), self._overall[m]
        return _aggregate(kind, v, ov, method)

    # fairlearn-style aggregations ------------------------------------------------------
    def group_min(self) -> Dict[str, Summary]:
        """Smallest group value per metric (NaN groups skipped)."""
        return {m: self._out(self._agg("min", m)) for m in self.metrics}

    def group_max(self) -> Dict[str, Summary]:
        """Largest group value per metric (NaN groups skipped)."""
        return {m: self._out(self._agg("max", m)) for m in self.metrics}

    def difference(self, method: str = "between_groups") -> Dict[str, Summary]:
        """max - min (``between_groups``) or max |group - overall| (``to_overall``)."""
        return {m: self._out(self._agg("difference", m, method)) for m in self.metrics}

    def ratio(self, method: str = "between_groups") -> Dict[str, Summary]:
        """min / max (``between_groups``) or min of group/overall folded to <= 1 (``to_overall``)."""
        return {m: self._out(self._agg("ratio", m, method)) for m in self.metrics}

    def std(self, ddof: int = 0) -> Dict[str, Summary]:
        """Standard deviation of each metric across groups (NaN groups skipped; population by default)."""
        return {m: self._out(_std(self._cs(self.by_group[m]), ddof)) for m in self.metrics}

    def skewed_error_ratio(self) -> Dict[str, Summary]:
        """SER = max_g error_g / min_g error_g, error = 1 - m for higher-is-better metrics
        (accuracy, TPR, AUROC, ...) and m for error metrics (FPR, FNR, ECE, ...); NaN if undirected."""
        return {m: self._out(_ser(self._cs(self.by_group[m]), GM.higher_is_better(m))) for m in self.metrics}

    def worst_group(self) -> Dict[str, Optional[Tuple]]:
        """Per metric (and control level) the group with the worst value (min if higher is better, else max)."""
        out: Dict[str, Any] = {}
        for m in self.metrics:
            hib = GM.higher_is_better(m)
            per = {}
            for c, v in zip(self.controls, self._cs(self.by_group[m])):
                if hib is None or bool(torch.isnan(v).all()):
                    per[c] = None
                    continue
                filled = torch.where(torch.isnan(v), torch.full_like(v, math.inf if hib else -math.inf), v)
                k = int(filled.argmin() if hib else filled.argmax())
                per[c] = self.groups[self.controls.index(c) * v.numel() + k]
            out[m] = per[()] if self.n_control == 1 else per
        return out

    # fairness summaries ---------------------------------------------------------------
    def demographic_parity(self, method: str = "between_groups") -> Tuple[Summary, Summary]:
        """(difference, ratio) of selection rate."""
        self._need("selection_rate")
        return self.difference(method)["selection_rate"], self.ratio(method)["selection_rate"]

    def equalized_odds(self, method: str = "between_groups", agg: str = "worst_case") -> Tuple[Summary, Summary]:
        """(difference, ratio) over TPR and FPR: worst case (max diff / min ratio) or ``agg="mean"``."""
        self._need("tpr", "fpr")
        d = [self._agg("difference", k, method) for k in ("tpr", "fpr")]
        r = [self._agg("ratio", k, method) for k in ("tpr", "fpr")]
        if agg == "worst_case":
            return self._out(torch.maximum(*d)), self._out(torch.minimum(*r))
        if agg == "mean":
            return self._out((d[0] + d[1]) / 2), self._out((r[0] + r[1]) / 2)
        raise ValueError(f"agg must be worst_case|mean, got {agg!r}")

    # confidence intervals ------------------------------------------------------------
    def _q(self, x: torch.Tensor, nan_skip: bool, per_control: bool) -> List[Any]:
        """Quantiles over replicates (dim 0); per-control results become {control: value}."""
        f = np.nanquantile if nan_skip else np.quantile
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = f(x.numpy(), self.ci_quantiles, axis=0)
        if per_control:
            return [self._out(torch.as_tensor(r)) for r in res]
        return [r if np.ndim(r) else float(r) for r in res]

    def _reps(self):
        if not self.replicates:
            raise RuntimeError("no bootstrap: pass n_boot= and ci_quantiles=")
        return {m: (ov, self._cs(bg)) for m, (ov, bg) in self.replicates.items()}

    def overall_ci(self) -> Dict[str, List[Summary]]:
        """Per metric, one value per ``ci_quantiles`` entry (``np.quantile`` over replicates)."""
        return {m: self._q(ov, False, True) for m, (ov, _) in self._reps().items()}

    def by_group_ci(self) -> Dict[str, List[np.ndarray]]:
        """Per metric, a (G,) array per quantile (``np.nanquantile``: absent groups skipped)."""
        return {m: self._q(bg.reshape(bg.shape[0], -1), True, False) for m, (_, bg) in self._reps().items()}

    def _agg_ci(self, kind: str, method: str = "between_groups") -> Dict[str, List[Summary]]:
        return {m: self._q(_aggregate(kind, bg, ov, method), False, True) for m, (ov, bg) in self._reps().items()}

    def difference_ci(self, method: str = "between_groups") -> Dict[str, List[Summary]]:
        """Quantiles of ``difference(method)`` over replicates."""
        return self._agg_ci("difference", method)

    def ratio_ci(self, method: str = "between_groups") -> Dict[str, List[Summary]]:
        """Quantiles of ``ratio(method)`` over replicates."""
        return self._agg_ci("ratio", method)

    def group_min_ci(self) -> Dict[str, List[Summary]]:
        """Quantiles of ``group_min`` over replicates."""
        return self._agg_ci("min")

    def group_max_ci(self) -> Dict[str, List[Summary]]:
        """Quantiles of ``group_max`` over replicates."""
        return self._agg_ci("max")

    def std_ci(self, ddof: int = 0) -> Dict[str, List[Summary]]:
        """Quantiles of ``std(ddof)`` over the same replicates (``np.quantile``, as the other summaries)."""
        return {m: self._q(_std(bg, ddof), False, True) for m, (_, bg) in self._reps().items()}

    def skewed_error_ratio_ci(self) -> Dict[str, List[Summary]]:
        """Quantiles of ``skewed_error_ratio()`` over the same replicates (``np.quantile``; a replicate
        where the smallest group error is 0 gives inf)."""
        return {m: self._q(_ser(bg, GM.higher_is_better(m)), False, True) for m, (_, bg) in self._reps().items()}

    # outputs -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (floats, lists; per-control summaries keyed by the control level as a string)."""
        def plain(v: Any) -> Any:
            return {group_label(k): x for k, x in v.items()} if isinstance(v, dict) else v

        return {
            "groups": [list(g) for g in self.groups],
            "features": list(self.feature_names),
            "overall": {m: plain(v) for m, v in self.overall.items()},
            "by_group": {m: self.by_group[m].tolist() for m in self.metrics},
            "count": self.counts.tolist(),  # rows per group (0 = empty intersection, see "empty_groups")
            "empty_groups": [list(g) for g in self.empty_groups()],
            "difference": {m: plain(v) for m, v in self.difference().items()},
            "ratio": {m: plain(v) for m, v in self.ratio().items()},
            "group_min": {m: plain(v) for m, v in self.group_min().items()},
            "group_max": {m: plain(v) for m, v in self.group_max().items()},
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
        summaries = [("overall", self._overall), ("difference", {m: self._agg("difference", m) for m in self.metrics}),
                     ("ratio", {m: self._agg("ratio", m) for m in self.metrics})]
        ctl = [""] if self.n_control == 1 else [f" [{group_label(c)}]" for c in self.controls]
        labels = [self._row_label(i) for i in range(len(self.groups))] + [lab + c for lab, _ in summaries for c in ctl]
        w0 = max(len(x) for x in labels + ["group"]) + 2
        head = "group".ljust(w0) + "".join(m[:14].rjust(15) for m in self.metrics)
        rows = [head, "-" * len(head)]
        for i, g in enumerate(self.groups):
            rows.append(self._row_label(i).ljust(w0) + "".join(f"{float(self.by_group[m][i]):15.4f}" for m in self.metrics))
        rows.append("-" * len(head))
        for lab, src in summaries:
            for j, c in enumerate(ctl):
                rows.append((lab + c).ljust(w0) + "".join(f"{float(src[m][j]):15.4f}" for m in self.metrics))
        return "\n".join(rows)

    __repr__ = __str__

    def _row_label(self, i: int) -> str:
        """Printable group label; an empty intersection is named as such (its metrics are NaN)."""
        return group_label(self.groups[i]) + (" (empty)" if float(self.counts[i]) == 0 else "")

    def empty_groups(self) -> List[Tuple]:
        """Groups without any row (empty intersections): NaN in every table, skipped by every aggregate."""
        return [g for g, c in zip(self.groups, self.counts.tolist()) if c == 0]


def _std(v: torch.Tensor, ddof: int = 0) -> torch.Tensor:
    """NaN-skipping standard deviation over the last dim of v (..., S) -> (...); NaN if <= ddof groups."""
    ok = ~torch.isnan(v)
    n = ok.sum(-1)
    mean = torch.where(ok, v, 0).sum(-1) / n.clamp(min=1)
    var = torch.where(ok, (v - mean[..., None]) ** 2, 0).sum(-1) / (n - ddof).clamp(min=1)
    return torch.where(n > ddof, var.sqrt(), torch.full_like(var, float("nan")))


def _ser(v: torch.Tensor, higher_is_better: Optional[bool]) -> torch.Tensor:
    """Skewed error ratio max / min of the group errors over the last dim (NaN groups skipped). (..., S) -> (...)."""
    if higher_is_better is None:
        return torch.full(v.shape[:-1], float("nan"), dtype=torch.float64)
    err = 1 - v if higher_is_better else v
    return A.group_max(err) / A.group_min(err)


def _aggregate(kind: str, v: torch.Tensor, overall: torch.Tensor, method: str) -> torch.Tensor:
    """min / max / difference / ratio over the last dim of v (..., S) with overall (...)."""
    if kind == "min":
        return A.group_min(v)
    if kind == "max":
        return A.group_max(v)
    if kind == "difference":
        return A.difference(v, overall, method)
    return A.ratio(v, overall, method)
