"""Encode sensitive features (one or several) into integer group codes.

Groups are the Cartesian product of each feature's sorted levels (as fairlearn's
``MetricFrame``), so empty intersections exist as groups with no rows (NaN rows in reports).
Missing values (None, float NaN, ``pd.NA``, ``pd.NaT``, NaT, the missing entries of pandas' nullable
dtypes) raise an ``InputError`` naming the feature and the number of rows, as fairlearn >= 0.11;
``missing_group="<label>"`` turns them into a group of that name instead (placed after the
feature's sorted levels). A feature whose levels cannot be ordered (e.g. numbers mixed with
strings) raises an ``InputError`` naming it, never a numpy / pandas ``TypeError``.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from fastxai.eval.errors import InputError


def _columns(sensitive_features: Any) -> Tuple[List[str], List[Any]]:
    if hasattr(sensitive_features, "columns"):  # pandas DataFrame
        return [str(c) for c in sensitive_features.columns], [sensitive_features[c] for c in sensitive_features.columns]
    if isinstance(sensitive_features, dict):
        return [str(k) for k in sensitive_features], [_np(v) for v in sensitive_features.values()]
    if isinstance(sensitive_features, (list, tuple)) and sensitive_features and \
            not np.isscalar(sensitive_features[0]) and sensitive_features[0] is not None \
            and np.ndim(_np(sensitive_features[0])) == 1:
        cols = [_np(c) for c in sensitive_features]
        return [f"sensitive_feature_{i}" for i in range(len(cols))], cols
    if isinstance(sensitive_features, torch.Tensor) or hasattr(sensitive_features, "dtype"):
        arr = _np(sensitive_features)
        ndim = np.ndim(arr)
    else:
        arr = np.asarray(sensitive_features, dtype=object)
        ndim = arr.ndim
    if ndim == 1:
        name = getattr(sensitive_features, "name", None)
        return [str(name) if name is not None else "sensitive_feature_0"], [sensitive_features
                                                                            if hasattr(sensitive_features, "isna")
                                                                            else arr]
    if ndim == 2:
        arr = np.asarray(arr)
        return [f"sensitive_feature_{i}" for i in range(arr.shape[1])], [arr[:, i] for i in range(arr.shape[1])]
    raise InputError(f"sensitive_features must be 1-D or 2-D, got shape {np.shape(arr)}")


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def _is_missing(v: Any) -> bool:
    """One value: None, a float NaN, pandas' NA / NaT, numpy's NaT."""
    if v is None:
        return True
    if type(v).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    if isinstance(v, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(v))
    return False


def _values_and_missing(col: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(values as a 1-D numpy array, (N,) bool missing mask) for numpy / torch / pandas columns."""
    if hasattr(col, "isna") and hasattr(col, "to_numpy"):  # pandas Series / Index / extension array
        missing = np.asarray(col.isna(), dtype=bool).reshape(-1)
        values = col.to_numpy(dtype=object) if missing.any() else np.asarray(col)
        return np.asarray(values).reshape(-1), missing
    arr = np.asarray(col, dtype=object) if isinstance(col, (list, tuple)) else np.asarray(col)  # no str coercion
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype == object:
        return arr, np.fromiter((_is_missing(v) for v in arr), dtype=bool, count=arr.size)
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
        return arr, np.isnan(arr)
    if np.issubdtype(arr.dtype, np.datetime64) or np.issubdtype(arr.dtype, np.timedelta64):
        return arr, np.isnat(arr)
    return arr, np.zeros(arr.size, dtype=bool)


def _levels(name: str, values: np.ndarray) -> Tuple[List[Any], np.ndarray]:
    """Sorted distinct levels (as Python scalars) and each row's level index."""
    try:
        levels, inv = np.unique(values, return_inverse=True)
    except TypeError as err:
        kinds = sorted({type(v).__name__ for v in values.tolist()})
        raise InputError(f"sensitive feature {name!r} mixes values that cannot be ordered ({', '.join(kinds)}); "
                         "cast it to one type (e.g. str)") from err
    return [lv.item() if hasattr(lv, "item") else lv for lv in levels], inv.reshape(-1).astype(np.int64)


def encode_groups(sensitive_features: Any, missing_group: Optional[str] = None,
                  ) -> Tuple[torch.Tensor, List[Tuple[Any, ...]], List[str]]:
    """Group codes for each row.

    Args:
        sensitive_features: (N,) array / tensor / Series, (N, F) array, list of F (N,) arrays,
            dict name -> (N,) array, or a DataFrame.
        missing_group: None (default): missing values raise ``InputError`` naming the feature and the
            number of rows; a string: missing values form a group of that name (last level).
    Returns:
        codes (N,) int64 in [0, G), names: G tuples of levels (Cartesian order), feature names.
    """
    names, cols = _columns(sensitive_features)
    n = len(cols[0])
    levels_all, codes = [], torch.zeros(n, dtype=torch.int64)
    for name, col in zip(names, cols):
        if len(col) != n:
            raise InputError(f"sensitive feature {name!r} has {len(col)} rows, expected {n}")
        values, missing = _values_and_missing(col)
        n_missing = int(missing.sum())
        if n_missing and missing_group is None:
            raise InputError(f"sensitive feature {name!r} has missing values (None / NaN / NA) in {n_missing} of {n} "
                             f"rows (first at rows {np.nonzero(missing)[0][:10].tolist()}); drop or fill them, or pass "
                             "missing_group='<label>' to report them as a group of their own")
        levels, inv = _levels(name, values[~missing]) if n_missing else _levels(name, values)
        if n_missing:
            if any(lv == missing_group for lv in levels):
                raise InputError(f"missing_group={missing_group!r} is already a level of sensitive feature {name!r}")
            full = np.full(n, len(levels), dtype=np.int64)
            full[~missing] = inv
            inv, levels = full, levels + [missing_group]
        levels_all.append(levels)
        codes = codes * len(levels) + torch.from_numpy(inv)
    groups = [tuple(t) for t in itertools.product(*levels_all)]
    return codes, groups, names


def group_label(name: Sequence[Any]) -> str:
    """Printable label of a group tuple."""
    return ", ".join(str(v) for v in name)
