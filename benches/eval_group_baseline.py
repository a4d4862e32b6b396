"""The plain vectorised torch baseline for ``group_report`` (issue 16), used by ``bench_eval.py``.

Accuracy, TPR, FPR, selection rate and AUROC per group and overall, plus max - min and min / max
over the groups, computed the plain way: the sensitive feature encoded by ``np.unique``, the
confusion cells of every group from one ``bincount``, and for AUROC one sort (average ranks) per
group and one overall (Mann-Whitney). No validation, no warnings, no undefined-value handling
beyond NaN from 0/0: the floor a full-featured report is measured against. Tested equal to
``group_report`` in ``tests/eval/groups/test_functional.py``.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

METRICS = ("accuracy", "tpr", "fpr", "selection_rate", "auroc")


def _auroc(y: torch.Tensor, s: torch.Tensor) -> float:
    """Mann-Whitney AUROC with average ranks for ties, from one sort. y (n,) bool, s (n,) float."""
    sorted_s, order = torch.sort(s)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    upper = torch.cumsum(counts, 0).to(torch.float64)
    avg_rank = upper - (counts.to(torch.float64) - 1) / 2  # 1-based average rank of each tie block
    yp = y[order]
    n_pos = int(yp.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r_pos = float(avg_rank[inverse][yp].sum())
    return (r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def plain_group_report(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray,
                       sensitive: np.ndarray) -> Dict[str, Dict[str, object]]:
    """{metric: {"by_group": (G,) tensor, "overall": float, "difference": float, "ratio": float}}.

    y_true, y_pred: (N,) {0, 1}; y_score: (N,) float; sensitive: (N,) labels.
    """
    levels, inv = np.unique(sensitive, return_inverse=True)
    codes = torch.from_numpy(inv.reshape(-1).astype(np.int64))
    y = torch.from_numpy(np.asarray(y_true)).to(torch.bool)
    p = torch.from_numpy(np.asarray(y_pred)).to(torch.bool)
    s = torch.from_numpy(np.asarray(y_score, dtype=np.float64))
    G = len(levels)
    cells = torch.bincount(codes * 4 + y.to(torch.int64) * 2 + p.to(torch.int64), minlength=4 * G)
    conf = cells.view(G, 4).to(torch.float64)
    conf = torch.cat([conf, conf.sum(0, keepdim=True)])  # last row: overall
    tn, fp, fn, tp = conf.unbind(1)
    n = tn + fp + fn + tp
    values = {"accuracy": (tn + tp) / n, "tpr": tp / (tp + fn), "fpr": fp / (fp + tn), "selection_rate": (fp + tp) / n}
    order = torch.argsort(codes, stable=True)
    bounds = torch.cumsum(torch.bincount(codes, minlength=G), 0).tolist()
    ys, ss = y[order], s[order]
    auc = [_auroc(ys[lo:hi], ss[lo:hi]) for lo, hi in zip([0] + bounds[:-1], bounds)] + [_auroc(y, s)]
    values["auroc"] = torch.tensor(auc, dtype=torch.float64)
    out = {}
    for m in METRICS:
        v = values[m]
        by = v[:G]
        ok = by[~torch.isnan(by)]
        out[m] = {"by_group": by, "overall": float(v[G]), "difference": float(ok.max() - ok.min()),
                  "ratio": float(ok.min() / ok.max())}
    return out
