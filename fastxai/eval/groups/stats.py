"""Vectorised per-group sufficient statistics over rows, for B weight vectors at once.

Every function takes group codes (N,) int64 in [0, G) and a weight matrix ``W`` (B, N) float64
(B = 1 for the point estimate; B bootstrap replicates = multiplicity x sample weight) and
returns (B, G, ...) tensors. No per-group or per-sample Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch


def group_sums(codes: torch.Tensor, n_groups: int, values: torch.Tensor) -> torch.Tensor:
    """Σ values per group. codes (N,), values (B, N) -> (B, G) float64."""
    out = torch.zeros(values.shape[0], n_groups, dtype=torch.float64)
    return out.index_add_(1, codes, values.to(torch.float64))


def confusion(codes: torch.Tensor, n_groups: int, y: torch.Tensor, yhat: torch.Tensor,
              W: torch.Tensor) -> torch.Tensor:
    """Weighted confusion cells [tn, fp, fn, tp] per group. y, yhat (N,) bool -> (B, G, 4)."""
    cell = codes * 4 + y.to(torch.int64) * 2 + yhat.to(torch.int64)
    out = torch.zeros(W.shape[0], n_groups * 4, dtype=torch.float64)
    return out.index_add_(1, cell, W).view(W.shape[0], n_groups, 4)


def fixed_bin_index(p: torch.Tensor, n_bins: int) -> torch.Tensor:
    """torchmetrics binning: edges linspace(0, 1, n+1), bin = bucketize(right=True) - 1.

    p in [b_i, b_{i+1}) -> i; p == 1.0 gets its own extra bin n. Returns (N,) int64 in [0, n].
    """
    edges = torch.linspace(0, 1, n_bins + 1, dtype=p.dtype)
    return torch.bucketize(p, edges, right=True) - 1


def calibration_bins(codes: torch.Tensor, n_groups: int, y: torch.Tensor, p: torch.Tensor,
                     W: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Per group and fixed bin: [Σw, Σw·p, Σw·y]. -> (B, G, n_bins + 1, 3)."""
    nb = n_bins + 1
    cell = codes * nb + fixed_bin_index(p, n_bins)
    B = W.shape[0]
    out = torch.zeros(3, B, n_groups * nb, dtype=torch.float64)
    for j, v in enumerate((W, W * p, W * y.to(torch.float64))):
        out[j].index_add_(1, cell, v)
    return out.permute(1, 2, 0).reshape(B, n_groups, nb, 3)


def ece_from_bins(bins: torch.Tensor) -> torch.Tensor:
    """L1 ECE Σ_b (n_b / n) |mean p_b - mean y_b| = Σ_b |Σp_b - Σy_b| / n. (..., nb, 3) -> (...)."""
    return (bins[..., 1] - bins[..., 2]).abs().sum(-1) / bins[..., 0].sum(-1)


def score_histogram(codes: torch.Tensor, n_groups: int, y: torch.Tensor, p: torch.Tensor,
                    W: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Per group and uniform [0, 1] score bin (bin = min(floor(p * K), K - 1)): [negative, positive]
    weight. -> (B, G, K, 2). The fixed-size state behind ``auroc_binned``."""
    b = (p.to(torch.float64) * n_bins).floor().clamp(0, n_bins - 1).to(torch.int64)
    cell = (codes * n_bins + b) * 2 + y.to(torch.int64)
    out = torch.zeros(W.shape[0], n_groups * n_bins * 2, dtype=torch.float64)
    return out.index_add_(1, cell, W.to(torch.float64)).view(W.shape[0], n_groups, n_bins, 2)


def auroc_from_histogram(hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binned AUROC and its error bound from (..., K, 2) histograms -> ((...), (...)).

    Pairs in different bins are ordered exactly; pairs sharing a bin count 1/2, so
    |AUROC_binned - AUROC_exact| <= ½ Σ_k pos_k neg_k / (P N) (the returned bound). NaN without
    both classes.
    """
    neg, pos = hist[..., 0], hist[..., 1]
    below = torch.cumsum(neg, -1) - neg
    P, N = pos.sum(-1), neg.sum(-1)
    auc = (pos * (below + 0.5 * neg)).sum(-1) / (P * N)
    bound = 0.5 * (pos * neg).sum(-1) / (P * N)
    ok = (P > 0) & (N > 0)
    nan = torch.full_like(auc, float("nan"))
    return torch.where(ok, auc, nan), torch.where(ok, bound, nan)


def _np_linspace_edges(lo: torch.Tensor, hi: torch.Tensor, n: int) -> torch.Tensor:
    """numpy.linspace(lo, hi, n + 1) elementwise (same float64 arithmetic). (...,) -> (..., n+1)."""
    step = (hi - lo) / n
    k = torch.arange(n + 1, dtype=torch.float64)
    edges = k * step[..., None] + lo[..., None]
    edges[..., -1] = hi
    return edges


def ece_data_range(codes: torch.Tensor, n_groups: int, y: torch.Tensor, p: torch.Tensor,
                   W: torch.Tensor, n_bins: int = 10) -> torch.Tensor:
    """MEDFAIR ECE: ``pd.cut(p, n_bins)`` per group over its observed [min, max] (rows with w > 0).

    Right-closed bins; the lowest edge is lowered by 0.1 % of the range (a constant group gets
    +-0.1 % around its value, or +-0.001 at 0), as pandas does. -> (B, G); NaN for empty groups.
    """
    W = W.to(torch.float64)
    B = W.shape[0]
    present = W > 0
    big = torch.tensor(float("inf"), dtype=torch.float64)
    pv = p.to(torch.float64).expand(B, -1)
    idx = codes.expand(B, -1)
    lo = torch.full((B, n_groups), float("inf"), dtype=torch.float64).scatter_reduce(
        1, idx, torch.where(present, pv, big), "amin")
    hi = torch.full((B, n_groups), -float("inf"), dtype=torch.float64).scatter_reduce(
        1, idx, torch.where(present, pv, -big), "amax")
    const = lo == hi
    adj_c = torch.where(lo != 0, lo.abs() * 0.001, torch.full_like(lo, 0.001))
    lo2 = torch.where(const, lo - adj_c, lo)
    hi2 = torch.where(const, hi + adj_c, hi)
    edges = _np_linspace_edges(lo2, hi2, n_bins)  # (B, G, n+1)
    edges[..., 0] = torch.where(const, edges[..., 0], edges[..., 0] - (hi - lo) * 0.001)
    # bin = number of edges strictly below p, minus 1 (right-closed), via a guess and a +-1 fix
    rng = (hi2 - lo2)[:, codes]
    guess = torch.floor((pv - lo2[:, codes]) / rng * n_bins).clamp(0, n_bins - 1).to(torch.int64)
    lower = _gather_edges(edges, codes, guess)
    guess = torch.where(pv <= lower, guess - 1, guess)
    upper = _gather_edges(edges, codes, (guess + 1).clamp(max=n_bins))
    guess = torch.where(pv > upper, guess + 1, guess).clamp(0, n_bins - 1)
    cell = codes * n_bins + guess  # (B, N)
    out = torch.zeros(3, B, n_groups * n_bins, dtype=torch.float64)
    wp, wy = W * pv, W * y.to(torch.float64)
    for j, v in enumerate((W, wp, wy)):
        out[j].scatter_add_(1, cell, v)
    bins = out.permute(1, 2, 0).reshape(B, n_groups, n_bins, 3)
    return ece_from_bins(bins)


def _gather_edges(edges: torch.Tensor, codes: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """edges[b, codes[i], k[b, i]] without materialising (B, N, n+1)."""
    B, G, E = edges.shape
    flat = edges.reshape(B, G * E)
    return flat.gather(1, codes[None, :] * E + k)


def squared_and_log_loss(codes: torch.Tensor, n_groups: int, y: torch.Tensor, p: torch.Tensor,
                         W: torch.Tensor, eps: Union[float, torch.Tensor, None] = None) -> torch.Tensor:
    """Per group [Σw, Σw (p - y)^2, Σw · NLL] with sklearn ``log_loss`` clipping of p to [eps, 1 - eps].

    ``eps``: a float or a per-row (N,) tensor (sklearn: the machine epsilon of the scores' input dtype,
    see ``fastxai.eval.groups.inputs.nll_eps``); None: float64's. -> (B, G, 3)."""
    yf = y.to(torch.float64)
    eps = torch.finfo(torch.float64).eps if eps is None else eps
    pd = p.to(torch.float64)
    pc = torch.minimum(torch.maximum(pd, torch.as_tensor(eps, dtype=torch.float64)),
                       1 - torch.as_tensor(eps, dtype=torch.float64))
    nll = -(yf * torch.log(pc) + (1 - yf) * torch.log1p(-pc))
    sq = (p.to(torch.float64) - yf) ** 2
    return torch.stack([group_sums(codes, n_groups, W), group_sums(codes, n_groups, W * sq),
                        group_sums(codes, n_groups, W * nll)], -1)


@dataclass
class AurocPlan:
    """One sort of the rows by (group, score) reused for every weight vector (sort once).

    order (N,) row order; tie_id (N,) the (group, score) tie block of each sorted row, or None
    when there are no ties (block = row); tie_group (T,) group of each block (non-decreasing);
    group_start / group_end (G,) each group's [start, end) range of blocks.
    """

    order: torch.Tensor
    tie_id: Optional[torch.Tensor]
    tie_group: torch.Tensor
    group_start: torch.Tensor
    group_end: torch.Tensor
    n_groups: int


def auroc_plan(codes: torch.Tensor, n_groups: int, score: torch.Tensor,
               score_order: Optional[torch.Tensor] = None) -> AurocPlan:
    """Rows sorted by score, then stably partitioned by group; tie blocks marked.

    ``score_order``: a precomputed ``torch.sort(score, stable=True).indices`` to share one sort
    between the per-group and the overall plan. Small G partitions with G masked gathers.
    """
    o1 = score_order if score_order is not None else torch.sort(score, stable=True).indices
    c1 = codes[o1]
    if n_groups == 1:
        order = o1
    elif n_groups <= 64:
        order = torch.cat([o1[c1 == g] for g in range(n_groups)])
    else:
        order = o1[torch.sort(c1, stable=True).indices]
    sc, cc = score[order], codes[order]
    new = torch.ones_like(sc, dtype=torch.bool)
    if sc.numel() > 1:
        new[1:] = (sc[1:] != sc[:-1]) | (cc[1:] != cc[:-1])
    tie_group = cc[new]
    tie_id = None if bool(new.all()) else torch.cumsum(new.to(torch.int64), 0) - 1
    gs = torch.arange(n_groups, dtype=tie_group.dtype)
    return AurocPlan(order, tie_id, tie_group, torch.searchsorted(tie_group, gs),
                     torch.searchsorted(tie_group, gs, right=True), n_groups)


def _block_weights(plan: AurocPlan, y: torch.Tensor, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative weight per tie block: (B, T) each."""
    ws = W[:, plan.order].to(torch.float64)
    pos = ws * y[plan.order].to(torch.float64)
    neg = ws - pos
    if plan.tie_id is None:
        return pos, neg
    B, T = W.shape[0], plan.tie_group.numel()
    return (torch.zeros(B, T, dtype=torch.float64).index_add_(1, plan.tie_id, pos),
            torch.zeros(B, T, dtype=torch.float64).index_add_(1, plan.tie_id, neg))


def _before(C: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Exclusive prefix sums at block positions ``idx`` from the inclusive cumsum C (B, T) -> (B, len(idx))."""
    if C.shape[1] == 0:
        return torch.zeros(C.shape[0], idx.numel(), dtype=C.dtype)
    vals = C[:, (idx - 1).clamp(min=0)]
    return torch.where(idx > 0, vals, torch.zeros_like(vals))


def _segments(C: torch.Tensor, plan: AurocPlan) -> torch.Tensor:
    """Per-group sums from the inclusive cumsum over blocks. -> (B, G)."""
    return _before(C, plan.group_end) - _before(C, plan.group_start)


def auroc(plan: AurocPlan, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Weighted per-group ROC AUC (= sklearn ``roc_auc_score`` with sample_weight; ties count 1/2).

    Σ over positive blocks of w⁺ (negative weight below in the group + ½ negative weight tied),
    divided by W⁺ W⁻, with cumulative sums over the sorted blocks (no per-group loop).
    y (N,) bool, W (B, N) -> (B, G); NaN where a group lacks positive or negative weight.
    """
    pos, neg = _block_weights(plan, y, W)
    cn = torch.cumsum(neg, 1)
    neg_g, pos_g = _segments(cn, plan), _segments(torch.cumsum(pos, 1), plan)
    below = cn - neg - _before(cn, plan.group_start)[:, plan.tie_group]
    contrib = _segments(torch.cumsum(pos * (below + 0.5 * neg), 1), plan)
    out = contrib / (pos_g * neg_g)
    return torch.where((pos_g > 0) & (neg_g > 0), out, torch.full_like(out, float("nan")))


def tpr_at_specificity(plan: AurocPlan, y: torch.Tensor, W: torch.Tensor, min_specificity: float) -> torch.Tensor:
    """Largest TPR over thresholds ``score >= t`` whose specificity is >= ``min_specificity``.

    torchmetrics' sensitivity-at-specificity semantics on the exact (weighted) ROC, all thresholds
    kept; 0.0 if no threshold qualifies. y (N,) bool, W (B, N) -> (B, G); NaN without both classes.
    """
    B, G = W.shape[0], plan.n_groups
    pos, neg = _block_weights(plan, y, W)
    cn, cp = torch.cumsum(neg, 1), torch.cumsum(pos, 1)
    neg_g, pos_g = _segments(cn, plan), _segments(cp, plan)
    neg_below = cn - neg - _before(cn, plan.group_start)[:, plan.tie_group]
    pos_below = cp - pos - _before(cp, plan.group_start)[:, plan.tie_group]
    spec = neg_below / neg_g[:, plan.tie_group]
    tpr = 1 - pos_below / pos_g[:, plan.tie_group]
    cand = torch.where(spec >= min_specificity, tpr, torch.zeros_like(tpr))
    best = torch.zeros(B, G, dtype=torch.float64).scatter_reduce_(1, plan.tie_group.expand(B, -1), cand, "amax")
    return torch.where((pos_g > 0) & (neg_g > 0), best, torch.full_like(best, float("nan")))


def _from_top(v: torch.Tensor, plan: AurocPlan) -> torch.Tensor:
    """Σ of v over the blocks at or above each block within its group (descending cumulative sums). (B, T)."""
    rc = torch.flip(torch.cumsum(torch.flip(v, [1]), 1), [1])  # Σ_{b' >= b}
    rc_end = torch.cat([rc, torch.zeros_like(rc[:, :1])], 1)[:, plan.group_end[plan.tie_group]]
    return rc - rc_end


def _scatter(values: torch.Tensor, index: torch.Tensor, n_groups: int, reduce: str, fill: float) -> torch.Tensor:
    """Per-group ``reduce`` ("amax" / "amin") of (B, T) values over blocks; ``fill`` where a group has none."""
    out = torch.full((values.shape[0], n_groups), fill, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(1, index.expand(values.shape[0], -1), values, reduce)


def tpr_at_specificity_interp(plan: AurocPlan, y: torch.Tensor, W: torch.Tensor, specificity: float) -> torch.Tensor:
    """MEDFAIR's ``interp1d(1 - fpr, tpr)(specificity)`` on sklearn's ``roc_curve`` of each group.

    sklearn's ROC: one point per distinct score with positive weight (thresholds ``score >= t``,
    descending), ``drop_intermediate=True`` (a point is dropped when the second differences of both
    its fps and tps are 0), (0, 0) prepended, fpr = fps / fps[-1]. scipy's ``interp1d`` sorts
    x = 1 - fpr stably and calls ``np.interp``, so with j = the last sorted point with x <= s:
    x == s -> the **highest** TPR among the points at x = s (the top of a vertical segment); else the
    line from (x_lo, highest TPR at x_lo) to (x_hi, lowest TPR at x_hi), x_lo = max x < s,
    x_hi = min x > s (for a staircase ROC this chord is not the ROC segment itself: MEDFAIR's value).
    y (N,) bool, W (B, N) -> (B, G); NaN without both classes.
    """
    B, G = W.shape[0], plan.n_groups
    T = plan.tie_group.numel()
    dev = W.device
    pos, neg = _block_weights(plan, y, W)
    tg = plan.tie_group
    # weight with score >= the block's score, summed from the top as sklearn's cumsum: reverse
    # cumulative sums minus their value at the group's end; the group total is the value at its start,
    # so the lowest ROC point has fpr = tpr = 1 exactly
    fps, tps = _from_top(neg, plan), _from_top(pos, plan)
    first = plan.group_start.clamp(max=max(T - 1, 0))

    def group_total(c: torch.Tensor) -> torch.Tensor:  # value at the group's first block; 0 if empty
        if not T:
            return torch.zeros(B, G, dtype=torch.float64, device=dev)
        return torch.where(plan.group_end > plan.group_start, c[:, first], torch.zeros_like(c[:, first]))

    neg_g, pos_g = group_total(fps), group_total(tps)
    exists = (pos + neg) > 0  # sklearn drops zero-weight rows (and thus their thresholds)
    idx = torch.arange(T, device=dev).expand(B, -1)
    big = torch.full_like(idx, T)
    # nearest existing block above (higher score: the previous ROC point) / below (the next ROC point)
    above = torch.flip(torch.cummin(torch.flip(torch.where(exists, idx, big), [1]), 1).values, [1])
    above = torch.cat([above[:, 1:], torch.full_like(above[:, :1], T)], 1)
    below = torch.cummax(torch.where(exists, idx, torch.full_like(idx, -1)), 1).values
    below = torch.cat([torch.full_like(below[:, :1], -1), below[:, :-1]], 1)
    tg_ext = torch.cat([tg, tg.new_full((1,), -1)])
    has_above = (above < T) & (tg_ext[above.clamp(max=T)] == tg)
    has_below = (below >= 0) & (tg_ext[below.clamp(min=0).masked_fill(below < 0, T)] == tg)
    a_i, b_i = above.clamp(max=T - 1), below.clamp(min=0)
    # np.diff(a, 2)[k] = (a[k+2] - a[k+1]) - (a[k+1] - a[k]) with k = above, k+1 = this block, k+2 = below
    d2f = (fps.gather(1, b_i) - fps) - (fps - fps.gather(1, a_i))
    d2t = (tps.gather(1, b_i) - tps) - (tps - tps.gather(1, a_i))
    kept = exists & (~has_above | ~has_below | (d2f != 0) | (d2t != 0))
    ngt, pgt = neg_g[:, tg], pos_g[:, tg]
    x = 1 - fps / torch.where(ngt > 0, ngt, torch.ones_like(ngt))
    tpr = tps / torch.where(pgt > 0, pgt, torch.ones_like(pgt))
    s = float(specificity)
    inf = float("inf")
    # the prepended (0, 0) point: x = 1, tpr = 0, first in sklearn order
    exact = _scatter(torch.where(kept & (x == s), tpr, torch.full_like(tpr, -inf)), tg, G, "amax", -inf)
    if s == 1.0:
        exact = torch.maximum(exact, torch.zeros_like(exact))
    x_lo = _scatter(torch.where(kept & (x < s), x, torch.full_like(x, -inf)), tg, G, "amax", -inf)
    x_hi = _scatter(torch.where(kept & (x > s), x, torch.full_like(x, inf)), tg, G, "amin", inf)
    if s < 1.0:
        x_hi = torch.minimum(x_hi, torch.ones_like(x_hi))
    y_lo = _scatter(torch.where(kept & (x == x_lo[:, tg]), tpr, torch.full_like(tpr, -inf)), tg, G, "amax", -inf)
    y_hi = _scatter(torch.where(kept & (x == x_hi[:, tg]), tpr, torch.full_like(tpr, inf)), tg, G, "amin", inf)
    y_hi = torch.where(x_hi == 1.0, torch.zeros_like(y_hi), y_hi)  # (0, 0) comes first at x = 1
    slope = (y_hi - y_lo) / (x_hi - x_lo)
    interp = slope * (s - x_lo) + y_lo
    out = torch.where(exact > -inf, exact, interp)
    return torch.where((pos_g > 0) & (neg_g > 0), out, torch.full_like(out, float("nan")))
