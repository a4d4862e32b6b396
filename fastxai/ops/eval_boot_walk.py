"""Bootstrap group statistics in one walk per replicate over rows sorted once (sort-once AUROC).

For multiplicities ``counts`` (B, N) int64 (how often each row was drawn in each replicate) and
rows arranged once in walk order (for AUROC: sorted by overall code, then score; the per-group
order is its stable partition by group, so both are served by the same walk), ``boot_walk``
returns, per replicate, for the groups and for the overall codes: the multiplicity count (B, G),
the weighted confusion cells [tn, fp, fn, tp] (B, G, 4) and the weighted Mann-Whitney AUROC (B, G)
(ties ½; NaN without both classes) — every count-based rate and the AUROC from one pass with one
random read per row, no per-replicate sort and no (B, N) float weight matrix. C++/OpenMP
(``csrc/eval_boot_walk.cpp``, replicates in parallel); torch reference: ``reference_boot_walk``
(bincounts and one sort per code, self-contained: ops import nothing from ``fastxai.eval``).
Every index the kernel follows (walk order, group / overall codes, labels, drawn indices) is
validated here, so no input can make it read or write outside its buffers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from fastxai import _ext, backends

Stats = Dict[str, torch.Tensor]
MAX_ROWS = 2 ** 24
MAX_CODES = 2 ** 28  # 4 * code + cell must fit the kernel's int32 cells


def _check_codes(name: str, codes: torch.Tensor, n: int, count: int) -> None:
    if codes.shape != (n,) or codes.dtype != torch.int64:
        raise ValueError(f"{name} must be (N,) = ({n},) int64, got {tuple(codes.shape)} {codes.dtype}")
    if not 1 <= count <= MAX_CODES:
        raise ValueError(f"the number of {name} levels must be in [1, {MAX_CODES}], got {count}")
    if n and (int(codes.min()) < 0 or int(codes.max()) >= count):
        raise ValueError(f"{name} must be codes in [0, {count}); got values in "
                         f"[{int(codes.min())}, {int(codes.max())}]")


def _check_order(order: torch.Tensor, n: int) -> None:
    if order.shape != (n,) or order.dtype != torch.int64:
        raise ValueError(f"order must be (N,) = ({n},) int64, got {tuple(order.shape)} {order.dtype}")
    if n and (int(order.min()) < 0 or int(order.max()) >= n
              or not bool((torch.bincount(order, minlength=n) == 1).all())):
        raise ValueError("order must be a permutation of range(N)")


@dataclass(frozen=True)
class WalkRows:
    """Rows in walk order (see module docstring): ``order`` (N,) int64 (a permutation of the rows),
    ``code_g`` / ``code_o`` (N,) int64 group / overall codes in [0, n_groups) / [0, n_overall),
    ``y`` / ``yhat`` (N,) uint8 in {0, 1}, ``sw`` (N,) float64, ``score`` (N,) float64, ``n_groups``,
    ``n_overall``, ``auroc`` (whether the order is a score plan). Validated on construction (every
    index the kernel follows); build it with ``walk_rows``."""

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

    def __post_init__(self) -> None:
        n = self.order.numel()
        if n >= MAX_ROWS:  # multiplicities (<= N) are read as float32, exact below 2**24
            raise ValueError(f"eval_boot_walk handles N < {MAX_ROWS} rows, got {n}")
        _check_order(self.order, n)
        _check_codes("code_g", self.code_g, n, self.n_groups)
        _check_codes("code_o", self.code_o, n, self.n_overall)
        for name, t, dt in (("y", self.y, torch.uint8), ("yhat", self.yhat, torch.uint8),
                            ("sw", self.sw, torch.float64), ("score", self.score, torch.float64)):
            if t.shape != (n,) or t.dtype != dt or not t.is_contiguous():
                raise ValueError(f"{name} must be a contiguous (N,) = ({n},) {dt} tensor, got "
                                 f"{tuple(t.shape)} {t.dtype}")
        if n and int(torch.maximum(self.y.max(), self.yhat.max())) > 1:
            raise ValueError("y and yhat must hold 0/1 values")
        for name in ("order", "code_g", "code_o"):
            if not getattr(self, name).is_contiguous():
                raise ValueError(f"{name} must be contiguous")


def walk_rows(y: torch.Tensor, yhat: torch.Tensor, sw: torch.Tensor, score: Optional[torch.Tensor],
              codes_g: torch.Tensor, n_groups: int, codes_o: torch.Tensor, n_overall: int,
              order: Optional[torch.Tensor] = None) -> WalkRows:
    """Arrange rows once. y, yhat (N,) bool, sw (N,), score (N,) or None, codes (N,) int64.

    ``order`` (N,): the rows sorted by (overall code, score) for AUROC (e.g. the overall AUROC plan's
    order); None: row order, counts and confusion cells only.
    """
    n = y.numel()
    auroc = order is not None and score is not None
    order = torch.arange(n, dtype=torch.int64) if order is None else order.to(torch.int64)
    _check_order(order, n)  # before indexing with it
    sc = score[order].to(torch.float64) if auroc else torch.zeros(n, dtype=torch.float64)
    co = codes_o[order].to(torch.int64).contiguous()
    ties = True
    if auroc:  # a tie inside a group is also a tie inside its overall code
        ties = n > 1 and bool(((sc[1:] == sc[:-1]) & (co[1:] == co[:-1])).any())
    return WalkRows(order.contiguous(), codes_g[order].to(torch.int64).contiguous(), co,
                    y[order].to(torch.uint8).contiguous(), yhat[order].to(torch.uint8).contiguous(),
                    sw[order].to(torch.float64).contiguous(), sc.contiguous(), int(n_groups), int(n_overall),
                    auroc, ties, bool((sw == 1).all()))


def _stats(cnt: torch.Tensor, conf: torch.Tensor, auc: Optional[torch.Tensor]) -> Stats:
    st = {"count": cnt, "conf": conf}
    if auc is not None:
        st["auroc"] = auc
    return st


def _reference_auroc(codes: torch.Tensor, G: int, y: torch.Tensor, score: torch.Tensor,
                     W: torch.Tensor) -> torch.Tensor:
    """Weighted Mann-Whitney AUROC per code (ties ½): one sort into (code, score) blocks. -> (B, G)."""
    key = torch.stack([codes.to(torch.float64), score.to(torch.float64)], 1)
    blocks, block = torch.unique(key, dim=0, return_inverse=True)  # sorted by code, then score
    B, T = W.shape[0], blocks.shape[0]
    yw = W * y.to(torch.float64)
    pos = torch.zeros(B, T, dtype=torch.float64).index_add_(1, block, yw)
    neg = torch.zeros(B, T, dtype=torch.float64).index_add_(1, block, W - yw)
    bcode = blocks[:, 0].to(torch.int64)
    out = torch.full((B, G), float("nan"), dtype=torch.float64)
    for g in range(G):
        sel = bcode == g
        p, q = pos[:, sel], neg[:, sel]
        below = torch.cumsum(q, 1) - q
        tot_p, tot_n = p.sum(1), q.sum(1)
        auc = (p * (below + 0.5 * q)).sum(1) / (tot_p * tot_n)
        out[:, g] = torch.where((tot_p > 0) & (tot_n > 0), auc, out[:, g])
    return out


def reference_boot_walk(y: torch.Tensor, yhat: torch.Tensor, sw: torch.Tensor, score: Optional[torch.Tensor],
                        codes_g: torch.Tensor, n_groups: int, codes_o: torch.Tensor, n_overall: int,
                        counts: torch.Tensor, auroc: bool) -> Tuple[Stats, Stats]:
    """Plain-torch reference (rows in original order): bincounts per code, one sort per code for AUROC.

    y, yhat (N,) bool, sw (N,), score (N,), codes (N,) int64, counts (B, N) multiplicities.
    """
    M = counts.to(torch.float64)
    W = M * sw.to(torch.float64)
    B = M.shape[0]
    out = []
    for codes, G in ((codes_g, n_groups), (codes_o, n_overall)):
        cnt = torch.zeros(B, G, dtype=torch.float64).index_add_(1, codes, M)
        cell = codes * 4 + y.to(torch.int64) * 2 + yhat.to(torch.int64)
        conf = torch.zeros(B, G * 4, dtype=torch.float64).index_add_(1, cell, W).view(B, G, 4)
        auc = _reference_auroc(codes, G, y, score, W) if auroc else None
        out.append(_stats(cnt, conf, auc))
    return out[0], out[1]


def _auc(parts: torch.Tensor) -> torch.Tensor:
    pos, neg = parts[..., 0], parts[..., 1]
    auc = parts[..., 2] / (pos * neg)
    return torch.where((pos > 0) & (neg > 0), auc, torch.full_like(auc, float("nan")))


def boot_walk(rows: WalkRows, counts: torch.Tensor, indices: bool = False) -> Tuple[Stats, Stats]:
    """(group stats, overall stats), each {count (B, G), conf (B, G, 4)[, auroc (B, G)]}, for int64
    multiplicities ``counts`` (B, N) >= 0 in original row order — or, with ``indices=True``, for the
    (B, N) row indices in [0, N) drawn per replicate (the kernel counts them; same result as their bincount)."""
    if not available():
        raise RuntimeError("eval_boot_walk needs the C++ backend (fastxai._C)")
    if not isinstance(rows, WalkRows):
        raise TypeError("rows must be a WalkRows (from walk_rows)")
    N = rows.order.numel()
    if counts.dim() != 2 or counts.shape[1] != N:
        raise ValueError(f"counts must be (B, N) = (B, {N}), got {tuple(counts.shape)}")
    B = counts.shape[0]
    c = counts.to(torch.int64).contiguous()
    if c.numel():
        lo, hi = int(c.min()), int(c.max())
        if indices and (lo < 0 or hi >= N):
            raise ValueError(f"indices must be in [0, {N}), got values in [{lo}, {hi}]")
        if not indices and (lo < 0 or hi > N):
            raise ValueError(f"counts (multiplicities) must be in [0, N = {N}], got values in [{lo}, {hi}]")
    res = []
    for G in (rows.n_groups, rows.n_overall):
        res.append((torch.empty(B, G, dtype=torch.float64), torch.empty(B, G, 4, dtype=torch.float64),
                    torch.zeros(B, G, 3, dtype=torch.float64)))
    (cg, fg, ag), (co, fo, ao) = res
    _ext.cpp().eval_boot_walk(c.data_ptr(), B, N, rows.order.data_ptr(), rows.code_g.data_ptr(), rows.n_groups,
                              rows.code_o.data_ptr(), rows.n_overall, rows.y.data_ptr(), rows.yhat.data_ptr(),
                              rows.sw.data_ptr(), rows.score.data_ptr(), rows.auroc, rows.ties, rows.unit_weights,
                              bool(indices), cg.data_ptr(), fg.data_ptr(), ag.data_ptr(), co.data_ptr(), fo.data_ptr(),
                              ao.data_ptr())
    return (_stats(cg, fg, _auc(ag) if rows.auroc else None), _stats(co, fo, _auc(ao) if rows.auroc else None))


def available() -> bool:
    """True when the C++ walk can run (CPU backend selected and ``fastxai._C`` built)."""
    return backends.select("eval_boot_walk", torch.device("cpu"), has_cpp=True, has_triton=False) == "cpp"
