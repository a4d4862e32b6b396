"""Statistics of a group report from the kept rows, for one or many weight vectors.

``RowEngine(spec, rows)`` prepares the rows once; ``stats(M)`` gives the per-group and per-control
statistics for multiplicities M (B, N) (B = 1: the point estimate; B replicates: a bootstrap chunk):

* **walk** (every metric count-based or exact AUROC, no callable, C++ built): the rows are sorted
  once by (control level, score) and each weight vector is one pass of ``fastxai.ops.eval_boot_walk``
  (confusion cells, counts and the weighted Mann-Whitney AUROC of every group and control level).
* **torch** otherwise: ``groups.metrics.row_stats`` with AUROC plans that share one sort.

Both give the same numbers (exact for unit weights; the walk is tested against its reference).
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np
import torch

from fastxai.eval.groups import metrics as GM
from fastxai.eval.groups import stats as S
from fastxai.ops import eval_boot_walk

Stats = Dict[str, torch.Tensor]


class Rows(NamedTuple):
    """The kept rows, (N,) each: labels, decisions, scores (float64, or None), group codes, sample
    weights, NLL clipping epsilon (scikit-learn's per input dtype, or None when NLL is not asked for)."""

    y: torch.Tensor
    p: torch.Tensor
    s: Optional[torch.Tensor]
    g: torch.Tensor
    w: torch.Tensor
    eps: Optional[torch.Tensor]


class Spec(NamedTuple):
    """What the statistics are for: G groups in C control levels (S = G // C sensitive groups each),
    the metric needs (``groups.metrics.needs``), the binning options, and whether a callable is asked."""

    G: int
    C: int
    need: Dict
    n_bins: int
    data_range_bins: int
    auroc_bins: int
    has_callable: bool

    @property
    def S(self) -> int:
        return self.G // self.C


def walkable(spec: Spec) -> bool:
    """True when every statistic the metrics need comes out of the C++ walk (counts, confusion
    cells, exact AUROC) and no user callable is involved."""
    n = spec.need
    extra = n["cal"] or n["sq"] or n["hist"] or n["tpr_at_spec"] or n["tpr_at_spec_interp"] or n["ece_data_range"]
    return not extra and not spec.has_callable and eval_boot_walk.available()


def needs_order(spec: Spec) -> bool:
    """True when a sort of the scores is needed (exact AUROC or TPR at specificity)."""
    n = spec.need
    return bool(n["auroc"] or n["tpr_at_spec"] or n["tpr_at_spec_interp"])


def control_sorted(score: torch.Tensor, codes_o: torch.Tensor, n_overall: int) -> torch.Tensor:
    """Row order sorted by score (stable), then stably partitioned by control level: (N,) int64."""
    order = torch.sort(score, stable=True).indices
    if n_overall == 1:
        return order
    return order[torch.sort(codes_o[order], stable=True).indices]


class RowEngine:
    """Per-group / per-control statistics of ``rows`` for multiplicity matrices (see module docstring)."""

    def __init__(self, spec: Spec, rows: Rows) -> None:
        self.spec, self.rows = spec, rows
        self.codes_o = rows.g // spec.S
        self.walk = None
        self.plans: Tuple[Optional[S.AurocPlan], Optional[S.AurocPlan]] = (None, None)
        ordered = needs_order(spec) and rows.s is not None
        if walkable(spec) and rows.y.numel() < eval_boot_walk.MAX_ROWS:
            order = control_sorted(rows.s, self.codes_o, spec.C) if ordered else None
            self.walk = eval_boot_walk.walk_rows(rows.y, rows.p, rows.w, rows.s, rows.g, spec.G, self.codes_o, spec.C,
                                                 order)
        elif ordered:
            order = torch.sort(rows.s, stable=True).indices
            self.plans = (S.auroc_plan(rows.g, spec.G, rows.s, order), S.auroc_plan(self.codes_o, spec.C, rows.s, order))

    @property
    def counts_dtype(self) -> torch.dtype:
        """The multiplicity dtype ``stats`` takes best (int64 for the walk, float64 for torch)."""
        return torch.int64 if self.walk is not None else torch.float64

    def stats(self, M: torch.Tensor) -> Tuple[Stats, Stats]:
        """(group stats, control-level stats) for multiplicities M (B, N) -> dicts of (B, G, ...) / (B, C, ...)."""
        if self.walk is not None:
            return eval_boot_walk.boot_walk(self.walk, M.to(torch.int64))
        r, sp = self.rows, self.spec
        M = M.to(torch.float64)
        out = []
        for codes, n, plan in ((r.g, sp.G, self.plans[0]), (self.codes_o, sp.C, self.plans[1])):
            out.append(GM.row_stats(r.y, r.p, r.s, codes, n, M, r.w, sp.need, sp.n_bins, sp.data_range_bins, plan,
                                    auroc_bins=sp.auroc_bins, eps=r.eps))
        return out[0], out[1]


def callable_values(fn: Callable, rows: Rows, M: torch.Tensor, codes: torch.Tensor, G: int) -> torch.Tensor:
    """User metric per replicate and code (Python loop over codes; rows repeated by multiplicity). -> (B, G)."""
    y, p, s, w = rows.y, rows.p, rows.s, rows.w
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
