"""Calling the model the Captum way: ``forward_func(*inputs, *additional_forward_args)``.

Tensor ``additional_forward_args`` with a batch dim travel with their rows: repeated per
perturbation / step (:func:`expand_additional_args`) or sliced with them (:func:`slice_rows`).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.checks import check_finite
from fastxai.engine.targets import TargetType, select_targets


def call_forward(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    additional_args: Optional[Tuple[Any, ...]] = None,
) -> Tensor:
    """Run the model; Python int/float outputs become 0-d tensors (Captum's rule)."""
    out = forward_func(*inputs, *(additional_args or ()))
    if isinstance(out, Tensor):
        return out
    if isinstance(out, torch.futures.Future):
        raise InputError("forward_func returned a torch.futures.Future: use attribute_future "
                         "(FeatureAblation, FeaturePermutation, ShapleyValueSampling, ShapleyValues)")
    if isinstance(out, (int, float)):
        return torch.tensor(out, dtype=torch.float64 if isinstance(out, float) else torch.int64)
    raise TypeError(f"forward_func must return a tensor, int or float, got {type(out).__name__}")


def run_forward(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetType = None,
    additional_args: Optional[Tuple[Any, ...]] = None,
    where: str = "the unperturbed inputs",
    check_finite_outputs: bool = True,
    **legacy: Any,
) -> Tensor:
    """Forward + target selection; raises :class:`NonFiniteOutputError` (unless allowed, see
    :func:`~fastxai.engine.checks.allow_non_finite`) if the selected outputs hold NaN/Inf.
    (``check_finite=False``, the old spelling of ``check_finite_outputs``, is accepted.)"""
    check = bool(legacy.pop("check_finite", check_finite_outputs))
    if legacy:
        raise TypeError(f"run_forward got unexpected arguments {sorted(legacy)}")
    out = select_targets(call_forward(forward_func, inputs, additional_args), target)
    if check:
        check_finite(out, where)
    return out


def expand_additional_args(
    args: Optional[Tuple[Any, ...]], n: int, interleave: bool = False
) -> Optional[Tuple[Any, ...]]:
    """Repeat tensor args with ndim >= 1 ``n`` times along dim 0 (Captum's layout:
    ``cat([a]*n)``, or ``repeat_interleave`` when ``interleave``); others pass unchanged."""
    if args is None or n == 1:
        return args

    def _expand(a: Any) -> Any:
        if isinstance(a, Tensor) and a.dim() > 0:
            return a.repeat_interleave(n, dim=0) if interleave else torch.cat([a] * n, dim=0)
        return a

    return tuple(_expand(a) for a in args)


def slice_rows(args: Optional[Tuple[Any, ...]], r0: int, r1: int) -> Optional[Tuple[Any, ...]]:
    """Rows ``[r0, r1)`` of every tensor argument with ndim >= 1 (others unchanged)."""
    if args is None:
        return None
    return tuple(a[r0:r1] if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)
