"""Argument handling shared by the perturbation methods (one place, not one per class)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.inputs import (
    BaselineType,
    TensorOrTuple,
    baseline_tensor,
    format_additional_args,
    format_baselines,
    format_inputs,
)
from fastxai._captum.targets import TargetSelector, TargetType
from fastxai.engine.perturb import EngineOptions, initial_outputs


@dataclass
class PreparedCall:
    """Normalised arguments of one ``attribute`` call."""

    inputs: Tuple[Tensor, ...]
    is_tuple: bool
    baselines: Tuple[Tensor, ...]
    args: Optional[Tuple[Any, ...]]
    target: TargetSelector
    initial: Tensor
    options: EngineOptions

    @property
    def n(self) -> int:
        return self.inputs[0].shape[0]

    @property
    def n_outputs(self) -> int:
        return self.initial.numel()


def prepare_call(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    perturbations_per_eval: Optional[int],
    show_progress: bool,
    max_batch: Optional[int],
    max_memory: Optional[int],
    desc: str,
) -> PreparedCall:
    """Format inputs / baselines / args / target, run the unperturbed forward."""
    tup, is_tuple = format_inputs(inputs)
    base = tuple(baseline_tensor(b, x) for b, x in zip(format_baselines(baselines, tup), tup))
    args = format_additional_args(additional_forward_args)
    selector = TargetSelector(target)
    options = EngineOptions(perturbations_per_eval, max_batch, max_memory, show_progress, desc)
    options.validate()
    initial = initial_outputs(forward_func, tup, selector, args)
    return PreparedCall(tup, is_tuple, base, args, selector, initial, options)


def shape_outputs(call: PreparedCall, attrs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """(O, *S) per input -> (N, K, *S) for a multi-target call, else unchanged."""
    k = call.target.n_targets
    if k is None:
        return attrs
    return tuple(a.reshape((call.n, k) + tuple(a.shape[1:])) for a in attrs)


def output_dtype(initial: Tensor) -> torch.dtype:
    """Attributions take the model output's dtype (Captum's rule); integer outputs -> float."""
    return initial.dtype if initial.is_floating_point() else torch.get_default_dtype()
