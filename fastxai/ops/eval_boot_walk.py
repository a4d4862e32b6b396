"""Bootstrap group statistics in one walk per replicate over rows sorted once (sort-once AUROC).

For multiplicities ``counts`` (B, N) int64 (how often each row was drawn in each replicate) and
rows arranged once in the overall AUROC plan order (sorted by overall code, then score; the
per-group plan is its stable partition by group, so both are served by the same walk),
``boot_walk`` returns, per replicate, for the groups and for the overall codes: the multiplicity
count (B, G), the weighted confusion cells [tn, fp, fn, tp] (B, G, 4) and the weighted
Mann-Whitney AUROC (B, G) (ties ½; NaN without both classes) — every count-based rate and the
AUROC from one pass with one random read per row, no per-replicate sort and no (B, N) float weight
matrix. C++/OpenMP (``csrc/eval_boot_walk.cpp``, replicates in parallel); torch reference =
``fastxai.eval.group_stats`` (``group_sums``, ``confusion``, ``auroc``) in ``reference_boot_walk``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from fastxai import _ext, backends

Stats = Dict[str, torch.Tensor]
MAX_ROWS = 2 ** 24


@dataclass
class WalkRows:
    """Rows in walk order (see module docstring): ``order`` (N,) int64, ``code_g`` / ``code_o`` (N,)
    int64 group / overall codes, ``y`` / ``yhat`` (N,) uint8, ``sw`` (N,) float64, ``score`` (N,)
    float64, ``n_groups``, ``n_overall``, ``auroc`` (whether the order is a score plan)."""

    order: torch.Tensor
    code_g: torch.Tensor
    code_o: torch.Tensor
    y: torch.Tensor
    yhat: torch.Tensor
    sw: torch.Tensor
    score: torch.Tensor
    n_groups: int
    n_overall: int
    auroc: bool
    ties: bool = True
    unit_weights: bool = False


def walk_rows(y: torch.Tensor, yhat: torch.Tensor, sw: torch.Tensor, score: Optional[torch.Tensor],
              codes_g: torch.Tensor, n_groups: int, codes_o: torch.Tensor, n_overall: int,
              plan_o=None) -> WalkRows:
    """Arrange rows once: in the overall plan's order (``AurocPlan`` over ``codes_o``), or in row
    order without AUROC when ``plan_o`` is None."""
    n = y.numel()
    order = torch.arange(n, dtype=torch.int64) if plan_o is None else plan_o.order.to(torch.int64)
    sc = score[order].to(torch.float64) if (plan_o is not None and score is not None) else torch.zeros(n, dtype=torch.float64)
    co = codes_o[order].to(torch.int64).contiguous()
    ties = True
    if plan_o is not None:  # a tie inside a group is also a tie inside its overall code
        ties = n > 1 and bool(((sc[1:] == sc[:-1]) & (co[1:] == co[:-1])).any())
    return WalkRows(order.contiguous(), codes_g[order].to(torch.int64).contiguous(), co,
                    y[order].to(torch.uint8).contiguous(), yhat[order].to(torch.uint8).contiguous(),
                    sw[order].to(torch.float64).contiguous(), sc.contiguous(), int(n_groups), int(n_overall),
                    plan_o is not None, ties, bool((sw == 1).all()))


def _stats(cnt: torch.Tensor, conf: torch.Tensor, auc: Optional[torch.Tensor]) -> Stats:
    st = {"count": cnt, "conf": conf}
    if auc is not None:
        st["auroc"] = auc
    return st


def reference_boot_walk(y: torch.Tensor, yhat: torch.Tensor, sw: torch.Tensor, score: Optional[torch.Tensor],
                        codes_g: torch.Tensor, n_groups: int, codes_o: torch.Tensor, n_overall: int,
                        counts: torch.Tensor, auroc: bool) -> Tuple[Stats, Stats]:
    """Torch reference through ``fastxai.eval.group_stats`` (rows in original order). counts (B, N)."""
    from fastxai.eval import group_stats as S

    M = counts.to(torch.float64)
    W = M * sw.to(torch.float64)
    out = []
    for codes, G in ((codes_g, n_groups), (codes_o, n_overall)):
        auc = S.auroc(S.auroc_plan(codes, G, score), y, W) if auroc else None
        out.append(_stats(S.group_sums(codes, G, M), S.confusion(codes, G, y, yhat, W), auc))
    return out[0], out[1]


def _auc(parts: torch.Tensor) -> torch.Tensor:
    pos, neg = parts[..., 0], parts[..., 1]
    auc = parts[..., 2] / (pos * neg)
    return torch.where((pos > 0) & (neg > 0), auc, torch.full_like(auc, float("nan")))


def boot_walk(rows: WalkRows, counts: torch.Tensor, indices: bool = False) -> Tuple[Stats, Stats]:
    """(group stats, overall stats), each {count (B, G), conf (B, G, 4)[, auroc (B, G)]}, for int64
    multiplicities ``counts`` (B, N) in original row order — or, with ``indices=True``, for the
    (B, N) row indices drawn per replicate (the kernel counts them; same result as their bincount)."""
    if not available():
        raise RuntimeError("eval_boot_walk needs the C++ backend (fastxai._C)")
    B, N = counts.shape
    c = counts.to(torch.int64).contiguous()
    if indices and N and (int(c.min()) < 0 or int(c.max()) >= N):
        raise ValueError(f"indices must be in [0, {N})")
    if N >= MAX_ROWS:  # multiplicities (<= N) are read as float32, exact below 2**24
        raise ValueError(f"eval_boot_walk handles N < {MAX_ROWS} rows, got {N}")
    res = []
    for G in (rows.n_groups, rows.n_overall):
        res.append((torch.empty(B, G, dtype=torch.float64), torch.empty(B, G, 4, dtype=torch.float64),
                    torch.zeros(B, G, 3, dtype=torch.float64)))
    (cg, fg, ag), (co, fo, ao) = res
    _ext.cpp().eval_boot_walk(c.data_ptr(), B, N, rows.order.data_ptr(), rows.code_g.data_ptr(), rows.n_groups,
                              rows.code_o.data_ptr(), rows.n_overall, rows.y.data_ptr(), rows.yhat.data_ptr(),
                              rows.sw.data_ptr(), rows.score.data_ptr(), rows.auroc, rows.ties, rows.unit_weights, bool(indices), cg.data_ptr(), fg.data_ptr(),
                              ag.data_ptr(), co.data_ptr(), fo.data_ptr(), ao.data_ptr())
    return (_stats(cg, fg, _auc(ag) if rows.auroc else None), _stats(co, fo, _auc(ao) if rows.auroc else None))


def available() -> bool:
    """True when the C++ walk can run (CPU backend selected and ``fastxai._C`` built)."""
    return backends.select("eval_boot_walk", torch.device("cpu"), has_cpp=True, has_triton=False) == "cpp"
