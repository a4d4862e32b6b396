"""Row inputs of the group metrics: labels, scores, weights and group codes as flat CPU tensors.

Labels are binarised here (``{0, 1}`` / ``{-1, 1}``, or any two values with ``pos_label=``); every
error names the argument.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from fastxai.eval.errors import InputError


def flat_tensor(x: Any, name: str) -> Optional[torch.Tensor]:
    """``x`` as a flat CPU tensor (None stays None); ``name`` is for error messages."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().reshape(-1)
    arr = np.asarray(x).reshape(-1)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be numeric (for string labels pass pos_label=; got dtype {arr.dtype})")
    return torch.as_tensor(arr)


def binary_labels(x: Any, name: str, pos_label: Any) -> Optional[torch.Tensor]:
    """Labels as a flat bool tensor (True = positive class); strings need ``pos_label``."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return binarise(name, x.detach().cpu().reshape(-1), pos_label)
    arr = np.asarray(x).reshape(-1)
    if np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        return binarise(name, torch.as_tensor(arr), pos_label)
    if pos_label is None:
        raise InputError(f"{name} has non-numeric labels; pass pos_label= (the positive class)")
    if len(np.unique(arr)) > 2:
        raise InputError(f"{name} must be binary (at most two distinct values); found {np.unique(arr)[:5].tolist()}")
    return torch.as_tensor(arr == pos_label)


def binarise(name: str, y: torch.Tensor, pos_label: Any) -> torch.Tensor:
    """y == pos_label as bool; labels must be binary ({0,1} / {-1,1} when pos_label is None).

    Checked with comparisons (a few vectorised passes; no sort unless the labels are bad)."""
    if pos_label is None:
        if y.dtype == torch.bool:
            return y
        one = y == 1
        if not (bool((one | (y == 0)).all()) or bool((one | (y == -1)).all())):
            raise InputError(f"{name} must be binary in {{0, 1}} or {{-1, 1}} unless pos_label= is given; "
                             f"found {torch.unique(y)[:5].tolist()}")
        return one
    if y.numel():
        first = y[:1]
        other = y[y != first]
        if other.numel() and not bool(((y == first) | (y == other[:1])).all()):
            raise InputError(f"{name} must be binary (at most two distinct values); found "
                             f"{torch.unique(y)[:5].tolist()}")
    return y == pos_label


def best_f1_threshold(y: torch.Tensor, score: torch.Tensor) -> float:
    """MEDFAIR's threshold: the score maximising F1, computed in torch (no scikit-learn needed).

    Equal to scikit-learn 1.9's ``precision_recall_curve`` followed by the first arg-max of
    ``2·P·R / (P + R)`` (0 where P + R = 0) over its thresholds (the distinct scores, ascending; the
    appended (P, R) = (1, 0) point excluded): tps / fps at each distinct score (descending, stable),
    precision = tps / (tps + fps), recall = tps / P (1 for every threshold without positives).
    y (N,) bool, score (N,) float -> float (a value of ``score``). Unweighted, as MEDFAIR.
    """
    if score.numel() == 0:
        raise InputError("threshold='best_f1' needs at least one row with a score")
    s = score.to(torch.float64).reshape(-1)
    yy = y.reshape(-1).to(torch.float64)
    order = torch.sort(s, descending=True, stable=True).indices
    ss, ys = s[order], yy[order]
    last = torch.ones_like(ss, dtype=torch.bool)  # last row of each block of equal scores
    last[:-1] = ss[1:] != ss[:-1]
    tps = torch.cumsum(ys, 0)[last]
    fps = torch.nonzero(last).flatten().to(torch.float64) + 1 - tps
    thr = ss[last]
    ps = tps + fps
    prec = torch.where(ps != 0, tps / torch.where(ps != 0, ps, 1.0), torch.zeros_like(ps))
    rec = tps / tps[-1] if float(tps[-1]) > 0 else torch.ones_like(tps)
    den = prec + rec
    f1 = torch.where(den > 0, 2 * prec * rec / torch.where(den > 0, den, 1.0), torch.zeros_like(den))
    return float(torch.flip(thr, [0])[int(torch.argmax(torch.flip(f1, [0])))])


def nll_eps(score: torch.Tensor) -> float:
    """scikit-learn ``log_loss``'s clipping epsilon for scores of this dtype: the machine epsilon of
    a floating dtype (float16 / float32 / float64 as given), float64's for integer or bool scores."""
    return float(torch.finfo(score.dtype).eps) if score.is_floating_point() else float(torch.finfo(torch.float64).eps)
