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
