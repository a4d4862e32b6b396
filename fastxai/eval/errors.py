"""Input validation for the evaluator: one place, messages that name the argument.

Errors are ``fastxai._captum.errors.InputError`` (a ``ValueError`` and an ``AssertionError``),
the one error type of every fastxai API boundary.
Validation is one reduction per check (no per-sample Python loops).
"""
from __future__ import annotations

import numbers
from typing import Sequence

import torch

from fastxai._captum.errors import InputError


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise if ``x`` (N, ...) has NaN/Inf; the message lists the offending sample indices.

    One cheap pass: a row whose plain sum is finite has only finite values (NaN/Inf propagate);
    only rows whose sum is not finite (NaN/Inf, or an overflow of large finite values) are
    scanned element-wise.
    """
    if not x.is_floating_point() or x.numel() == 0:
        return
    flat = x.reshape(x.shape[0], -1) if x.dim() else x.reshape(1, 1)
    suspect = ~torch.isfinite(flat.sum(1))
    if not bool(suspect.any()):
        return
    bad = suspect.clone()
    bad[suspect] = ~torch.isfinite(flat[suspect]).all(1)
    if bool(bad.any()):
        idx = torch.nonzero(bad).flatten().tolist()
        more = f" (+{len(idx) - 10} more)" if len(idx) > 10 else ""
        raise InputError(f"{name} contains NaN or Inf in samples {idx[:10]}{more}")


def check_same_n(**tensors: torch.Tensor | None) -> int:
    """Raise unless every non-None argument has the same first dimension; return it."""
    sizes = {k: int(v.shape[0]) for k, v in tensors.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise InputError(f"mismatched number of samples N between arguments: {sizes}")
    return next(iter(sizes.values())) if sizes else 0


def check_binary(name: str, y: torch.Tensor, labels: Sequence[float] = (0, 1)) -> None:
    """Raise if ``y`` holds values outside ``labels``."""
    if y.numel() == 0:
        return
    ok = torch.zeros_like(y, dtype=torch.bool)
    for v in labels:
        ok |= y == v
    if not bool(ok.all()):
        bad = torch.unique(y[~ok])[:5].tolist()
        raise InputError(
            f"{name} must be binary with values in {list(labels)} (pass pos_label= for other "
            f"encodings); found {bad}"
        )


def check_probabilities(name: str, p: torch.Tensor) -> None:
    """Raise if ``p`` has values outside [0, 1] (or NaN)."""
    if p.numel() == 0:
        return
    if not bool(((p >= 0) & (p <= 1)).all()):
        bad = torch.nonzero(~((p >= 0) & (p <= 1))).flatten()[:10].tolist()
        raise InputError(f"{name} must be probabilities in [0, 1]; bad values at indices {bad}")


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """Raise ``InputError`` naming ``name`` unless ``value`` is an integer >= ``minimum``; return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
