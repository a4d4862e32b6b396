"""Argument handling shared by the perturbation methods (one place, not one per class)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
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
    captum_edge: bool = False,
) -> PreparedCall:
    """Format inputs / baselines / args / target, run the unperturbed forward.

    ``captum_edge=True`` (FeatureAblation, Occlusion, FeaturePermutation) accepts what
    Captum's ablation family accepts beyond the common rules: input tensors whose dim 0 is
    not the batch ("sparse" index lists, empty tensors) and baselines that merely broadcast
    to their input.
    """
    tup, is_tuple = format_inputs(inputs, same_batch=not captum_edge)
    formatted = format_baselines(baselines, tup, broadcast=captum_edge)
    base = tuple(baseline_tensor(b, x) for b, x in zip(formatted, tup))
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


def difference_dtype(initial: Tensor) -> torch.dtype:
    """dtype of ``f(x) - f(perturbed x)`` attributions (FeatureAblation, FeaturePermutation).

    Captum keeps the output's dtype here, integers included (an int64 model or a forward
    returning a Python int gives int64 attributions), so a drop-in must too. Only bool
    outputs, which cannot be subtracted, fall back to the default float dtype.
    """
    if initial.is_floating_point() or initial.is_complex():
        return initial.dtype
    return torch.get_default_dtype() if initial.dtype == torch.bool else initial.dtype


def check_masks_match_output(call: PreparedCall, masks: Tuple[Tensor, ...]) -> None:
    """Per-example feature masks (first dim N > 1) need per-example outputs.

    When the forward aggregates over the batch (its output's dim 0 is not N), there is no
    example to read a per-example mask against; Captum fails there with a shape error deep
    in its accumulation, fastxai says why up front (an ``InputError``, hence AssertionError).
    """
    n = call.n
    per_example = [i for i, m in enumerate(masks) if m.dim() > 0 and m.shape[0] > 1]
    aggregated = call.initial.dim() == 0 or call.initial.shape[0] != n
    if per_example and aggregated:
        raise InputError(
            f"feature_mask[{per_example[0]}] holds per-example ids (first dim "
            f"{masks[per_example[0]].shape[0]}) but forward_func returns an output of shape "
            f"{tuple(call.initial.shape)} that is not per example (batch of {n}); give the "
            "mask a first dim of 1"
        )
