"""The Captum edge: one call record in, Captum's return forms out.

Every ``attribute()`` turns Captum's arguments into one immutable :class:`CallRecord` with
:func:`normalize_call` (the only place that formats inputs, baselines, targets, additional
args and feature masks) and turns its per-input results back into Captum's return form with
:func:`format_result`. Model-level checks (BatchNorm in training mode, stochastic modules,
empty batches, ``max_batch`` / ``max_memory``) run before that, in the entry decorator
(:func:`fastxai._captum.attribution.log_usage` -> :func:`fastxai.engine.checks.preflight`).

Shapes: N examples; per input i, S_i its non-batch shape; K targets per example for a
multi-target; O = N (or N·K) target values per forward, 1 for a scalar-per-batch forward.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

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
from fastxai._captum.masks import format_feature_mask
from fastxai.engine.options import EngineOptions
from fastxai.engine.targets import Target, TargetType


class _Absent:
    """Marks an argument the method does not take (no baselines / no feature_mask)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class CallRecord:
    """One ``attribute()`` call, normalised. Immutable: derive variants with :meth:`replace`.

    Attributes:
        inputs: the input tensors, each (N, *S_i) (a "sparse" tensor whose dim 0 is not N is
            allowed where the method accepts it, see ``sparse_inputs``).
        is_tuple: whether the user passed a tuple (results mirror it).
        baselines: per input, a tensor broadcastable to it in its dtype and device ((), when
            the method takes no baselines).
        target: the :class:`~fastxai.engine.targets.Target` (Captum's forms or (N, K)).
        additional_args: ``additional_forward_args`` as a tuple, or None.
        feature_masks: per input, (1|N, *S_i) int64 ids, global across inputs (Captum 0.9's
            rule; None = every scalar its own id); None when the method takes no mask.
        options: the :class:`~fastxai.engine.options.EngineOptions` of the call.
        captum_baselines: the baselines as Captum's ``_format_baseline`` hands them to user
            callbacks (scalars kept as numbers), for methods that call user functions.
    """

    inputs: Tuple[Tensor, ...]
    is_tuple: bool
    baselines: Tuple[Tensor, ...]
    target: Target
    additional_args: Optional[Tuple[Any, ...]]
    feature_masks: Optional[Tuple[Tensor, ...]]
    options: EngineOptions
    captum_baselines: Tuple[Any, ...] = ()

    @property
    def n(self) -> int:
        """N, the batch size (dim 0 of the first input)."""
        x = self.inputs[0]
        return x.shape[0] if x.dim() > 0 else 1

    @property
    def device(self) -> torch.device:
        """The first input's device (where the method computes)."""
        return self.inputs[0].device

    def replace(self, **changes: Any) -> "CallRecord":
        """A copy with some fields changed (e.g. ``inputs=`` the baselines)."""
        return dataclasses.replace(self, **changes)


def normalize_call(
    inputs: TensorOrTuple,
    *,
    baselines: Union[BaselineType, _Absent] = ABSENT,
    target: TargetType = None,
    additional_forward_args: Any = None,
    feature_mask: Union[None, Tensor, Tuple[Tensor, ...], _Absent] = ABSENT,
    perturbations_per_eval: Optional[int] = None,
    max_batch: Optional[int] = None,
    max_memory: Optional[int] = None,
    show_progress: bool = False,
    desc: str = "fastxai",
    sparse_inputs: bool = False,
    broadcast_baselines: bool = False,
    scalar_baselines_in_input_dtype: bool = False,
) -> CallRecord:
    """Captum's arguments -> one :class:`CallRecord` (raises ``InputError`` naming the argument).

    Args:
        inputs: (N, *S) tensor or tuple of them.
        baselines: None (zeros), a scalar, a tensor (N|1, *S) or a tuple of those per input;
            ``ABSENT`` for methods without baselines (the record holds ()).
        target: any Captum form, or (N, K) for K targets per example.
        additional_forward_args: passed after the inputs to the forward.
        feature_mask: integer ids per input (``ABSENT``: the method takes none).
        perturbations_per_eval / max_batch / max_memory / show_progress / desc: engine options.
        sparse_inputs: accept input tensors whose dim 0 is not the batch (Captum's ablation
            family: index lists, empty tensors).
        broadcast_baselines: accept baselines that merely broadcast to their input (same family).
        scalar_baselines_in_input_dtype: scalar baselines take the input's dtype even for
            integer inputs (Captum's Shapley classes); otherwise an integer input with a float
            baseline gets float baselines and rows (``baseline_dtype``).
    """
    tup, is_tuple = format_inputs(inputs, same_batch=not sparse_inputs)
    n = tup[0].shape[0] if tup and tup[0].dim() > 0 else None
    bases: Tuple[Tensor, ...] = ()
    formatted: Tuple[Any, ...] = ()
    if baselines is not ABSENT:
        formatted = format_baselines(baselines, tup, broadcast=broadcast_baselines)
        bases = tuple(baseline_tensor(b, x, scalar_baselines_in_input_dtype) for b, x in zip(formatted, tup))
    masks = None if feature_mask is ABSENT else format_feature_mask(feature_mask, tup)
    options = EngineOptions(perturbations_per_eval, max_batch, max_memory, show_progress, desc)
    return CallRecord(tup, is_tuple, bases, Target(target, n), format_additional_args(additional_forward_args),
                      masks, options, formatted)


def format_result(record: CallRecord, attrs: Sequence[Tensor]) -> TensorOrTuple:
    """Per-input results -> Captum's return form (a tuple for tuple inputs, else the tensor).

    ``attrs``: per input, (O, *S_i). For a multi-target call (O = N·K) each becomes
    (N, K, *S_i); otherwise it is returned as it is.
    """
    k = record.target.n_targets
    if k is not None:
        attrs = tuple(a.reshape((record.n, k) + tuple(a.shape[1:])) for a in attrs)
    return tuple(attrs) if record.is_tuple else attrs[0]
