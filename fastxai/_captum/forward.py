"""Calling the model the Captum way: ``forward_func(*inputs, *additional_forward_args)``."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import NonFiniteOutputError
from fastxai._captum.targets import TargetType, select_targets


def call_forward(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    additional_args: Optional[Tuple[Any, ...]] = None,
) -> Tensor:
    """Run the model; Python int/float outputs become 0-d tensors (Captum's rule)."""
    out = forward_func(*inputs, *(additional_args or ()))
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (int, float)):
        return torch.tensor(out, dtype=torch.float64 if isinstance(out, float) else torch.int64)
    raise TypeError(
        f"forward_func must return a tensor, int or float, got {type(out).__name__}"
    )


def run_forward(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetType = None,
    additional_args: Optional[Tuple[Any, ...]] = None,
    where: str = "the unperturbed inputs",
    check_finite: bool = True,
) -> Tensor:
    """Forward + target selection; raises if the selected outputs hold NaN/Inf, saying ``where``."""
    out = select_targets(call_forward(forward_func, inputs, additional_args), target)
    if check_finite and out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise NonFiniteOutputError(f"forward_func returned NaN or Inf for {where}")
    return out
