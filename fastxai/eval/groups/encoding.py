"""Encode sensitive features (one or several) into integer group codes.

Groups are the Cartesian product of each feature's sorted levels (as fairlearn's
``MetricFrame``), so empty intersections exist as groups with no rows (NaN rows in reports).
Missing values (None / NaN) raise, as fairlearn >= 0.11.
"""
from __future__ import annotations

import itertools
from typing import Any, List, Sequence, Tuple

import numpy as np
import torch

from fastxai.eval.errors import InputError


def _columns(sensitive_features: Any) -> Tuple[List[str], List[np.ndarray]]:
    if hasattr(sensitive_features, "columns"):  # pandas DataFrame
        return [str(c) for c in sensitive_features.columns], [
            np.asarray(sensitive_features[c]) for c in sensitive_features.columns]
    if isinstance(sensitive_features, dict):
        return [str(k) for k in sensitive_features], [np.asarray(_np(v)) for v in sensitive_features.values()]
    if isinstance(sensitive_features, (list, tuple)) and sensitive_features and \
            not np.isscalar(sensitive_features[0]) and np.ndim(_np(sensitive_features[0])) == 1:
        cols = [np.asarray(_np(c)) for c in sensitive_features]
        return [f"sensitive_feature_{i}" for i in range(len(cols))], cols
    arr = np.asarray(_np(sensitive_features))
    if arr.ndim == 1:
        name = getattr(sensitive_features, "name", None)
        return [str(name) if name is not None else "sensitive_feature_0"], [arr]
    if arr.ndim == 2:
        return [f"sensitive_feature_{i}" for i in range(arr.shape[1])], [arr[:, i] for i in range(arr.shape[1])]
    raise InputError(f"sensitive_features must be 1-D or 2-D, got shape {arr.shape}")


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def encode_groups(sensitive_features: Any) -> Tuple[torch.Tensor, List[Tuple[Any, ...]], List[str]]:
    """Group codes for each row.

    Args:
        sensitive_features: (N,) array / tensor / Series, (N, F) array, list of F (N,) arrays,
            dict name -> (N,) array, or a DataFrame.
    Returns:
        codes (N,) int64 in [0, G), names: G tuples of levels (Cartesian order), feature names.
    """
    names, cols = _columns(sensitive_features)
    n = len(cols[0])
    levels_all, codes = [], torch.zeros(n, dtype=torch.int64)
    for name, col in zip(names, cols):
        if len(col) != n:
            raise InputError(f"sensitive feature {name!r} has {len(col)} rows, expected {n}")
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in col]) \
            if col.dtype == object else (np.isnan(col) if np.issubdtype(col.dtype, np.floating) else np.zeros(n, bool))
        if missing.any():
            raise InputError(f"sensitive feature {name!r} has missing values at rows "
                             f"{np.nonzero(missing)[0][:10].tolist()}")
        levels, inv = np.unique(col, return_inverse=True)
        levels_all.append([lv.item() if hasattr(lv, "item") else lv for lv in levels])
        codes = codes * len(levels) + torch.from_numpy(inv.reshape(-1).astype(np.int64))
    groups = [tuple(t) for t in itertools.product(*levels_all)]
    return codes, groups, names


def group_label(name: Sequence[Any]) -> str:
    """Printable label of a group tuple."""
    return ", ".join(str(v) for v in name)
