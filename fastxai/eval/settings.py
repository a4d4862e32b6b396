"""Metric settings: compared by value before two metric states are combined.

``canonical(value)`` turns a setting into a comparable, process-independent form: numbers (bool,
int, float, numpy scalars) compare by value (NaN equals NaN), sequences element-wise, dicts by key,
tensors by dtype, shape and values, callables by module and qualified name (a lambda or a local
function by identity: it has no stable name), ``ScoreMetric``-like wrappers by what they wrap.
``check_same`` raises an ``InputError`` naming every setting that differs; ``digests`` gives one
int64 per setting for the cross-rank check of ``fastxai.eval.sync``.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, List, Mapping, Tuple

import torch

from fastxai.eval.errors import InputError


def canonical(value: Any) -> Any:
    """A hashable, comparable form of a setting value (see module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, torch.Tensor) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar
    if isinstance(value, (bool, int, float)):
        f = float(value)
        return ("num", "nan" if math.isnan(f) else f)
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), tuple(value.shape), tuple(value.detach().cpu().reshape(-1).tolist()))
    if isinstance(value, Mapping):
        return ("dict", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(canonical(v) for v in value))
    wrapped = getattr(value, "fn", None)
    if wrapped is not None and callable(value):
        return ("wrapper", type(value).__qualname__, canonical(wrapped))
    if callable(value):
        name = getattr(value, "__qualname__", None)
        module = getattr(value, "__module__", None)
        if name and module and "<lambda>" not in name and "<locals>" not in name:
            return ("callable", module, name)
        return ("object", id(value))
    return ("repr", type(value).__qualname__, repr(value))


def _show(value: Any) -> str:
    text = getattr(value, "__qualname__", None) if callable(value) else None
    text = text or repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> List[str]:
    """Names of the settings whose canonical values differ (or that only one side has)."""
    names = sorted(set(a) | set(b))
    return [k for k in names if k not in a or k not in b or canonical(a[k]) != canonical(b[k])]


def check_same(action: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> None:
    """Raise ``InputError`` naming each differing setting with both values."""
    bad = differing(mine, theirs)
    if bad:
        parts = [f"{k!r}: {_show(mine.get(k, '<unset>'))} here vs {_show(theirs.get(k, '<unset>'))} in the other"
                 for k in bad]
        raise InputError(f"cannot {action} metric states built with different settings: " + "; ".join(parts))


def digest(value: Any) -> int:
    """A signed 63-bit digest of ``canonical(value)`` (stable across processes for named callables)."""
    h = hashlib.sha256(repr(canonical(value)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def digests(class_name: str, settings: Mapping[str, Any]) -> Tuple[List[str], List[int]]:
    """(setting names in sorted order, [digest of class and names, digest of each setting])."""
    names = sorted(settings)
    return names, [digest((class_name, names))] + [digest(settings[k]) for k in names]

