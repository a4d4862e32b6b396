"""The incremental path inside the engine's perturbation loop.

``run_perturbations`` keeps chunk sizing, target selection, output-shape and non-finite
checks and progress; the incremental path only changes what a chunk's "forward" is: the
plan's rows are perturbation ids (row (p - p0)·N + n holds p) and the forward is
:meth:`PatchRunner.forward` over that range. A method calls :func:`try_incremental` with its
reducer; when it returns a summary whose ``path`` is "full", the method runs its normal
plan (the reason is in the summary). :func:`run_call_incremental` is that, for a call record:
the one line a method changes (``run_call`` -> ``run_call_incremental``).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.checks import batch_dependent_modules
from fastxai.engine.incremental.executor import PatchRunner
from fastxai.engine.incremental.perturbations import SegmentPerturbations, WindowPerturbations
from fastxai.engine.incremental.planner import IncrementalPlan, PlanOptions, build_plan
from fastxai.engine.options import EngineOptions
from fastxai.engine.perturb import Reducer, run_call, run_perturbations
from fastxai.engine.targets import Target

Mode = Union[bool, str]


@dataclass(frozen=True)
class PlanSummary:
    """Which path an attribution call took and why (``Occlusion.last_plan``).

    ``path``: "incremental" or "full"; ``reason``: why the full forward ran, or what ran on
    patches and where the full forward took over; ``flop_ceiling``: the speed-up bound from
    the FLOPs the changed regions touch (1.0 when unknown); ``planned_speedup``: the FLOP
    ratio of what the plan computes; ``approximate``: Krypton's projective-field threshold
    was below 1 (results are not exact); ``tau``: that threshold."""

    path: str
    reason: str
    flop_ceiling: float = 1.0
    planned_speedup: float = 1.0
    approximate: bool = False
    tau: float = 1.0

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class _Ids:
    """A plan whose rows are row ids p·N + n, perturbation-major ((p1 - p0)·N,): the engine
    may split them (``max_batch`` below N) and the forward still knows which rows it got."""

    def __init__(self, n_perturbations: int, n: int, device: torch.device) -> None:
        self.n_perturbations, self.n, self.device = n_perturbations, n, device

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        return (torch.arange(p0 * self.n, p1 * self.n),)


_KEYS: "weakref.WeakKeyDictionary[Any, Dict[str, object]]" = weakref.WeakKeyDictionary()


class _Forward:
    """``forward(ids)`` = the model's outputs on the perturbed rows those ids stand for.

    ``__self__`` is one token per (model, kind of perturbation), so the engine's chunk-size
    search (keyed by ``forward_func.__self__``) resumes and settles across calls instead of
    starting afresh for every call's new runner."""

    def __init__(self, runner: PatchRunner, n: int, model: Any, kind: str) -> None:
        self.runner, self.n = runner, n
        try:
            tokens = _KEYS.setdefault(model, {})
        except TypeError:  # not weak-referenceable: no sharing
            tokens = {}
        self.__self__ = tokens.setdefault(kind, object())

    def __call__(self, ids: Tensor) -> Tensor:
        p0, p1 = int(ids[0]) // self.n, int(ids[-1]) // self.n + 1
        out = self.runner.forward(p0, p1)
        if ids.shape[0] == out.shape[0]:
            return out  # whole perturbations (the usual chunk)
        return out.index_select(0, ids.to(out.device) - p0 * self.n)  # rows split by max_batch


def check_mode(mode: Any, tau: Any) -> None:
    """Validate the user-facing ``incremental`` / ``incremental_tau`` arguments."""
    if mode not in (True, False, "auto"):
        raise InputError(f"incremental must be 'auto', True or False, got {mode!r}")
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not 0.0 < float(tau) <= 1.0:
        raise InputError(f"incremental_tau must be a number in (0, 1], got {tau!r}")
    if float(tau) < 1.0 and mode is False:
        raise InputError("incremental_tau < 1 (approximate incremental inference) needs incremental='auto' or True")


def _not_one_image(inputs: Tuple[Tensor, ...]) -> str:
    if len(inputs) != 1:
        return f"{len(inputs)} input tensors (the incremental path takes one (N, C, *S) image tensor)"
    if inputs[0].dim() < 3 or inputs[0].shape[0] == 0:
        return f"the input of shape {tuple(inputs[0].shape)} has no spatial dims (needs (N, C, *S))"
    return ""


def call_blocker(inputs: Tuple[Tensor, ...], additional_args: Optional[Tuple[Any, ...]],
                 initial: Tensor, forward_func: Callable[..., Any]) -> str:
    """Why a call cannot take the incremental path regardless of the model's graph ("" if none)."""
    why = _not_one_image(inputs)
    if why:
        return why
    if additional_args is not None:
        return "additional_forward_args are given (the traced graph takes the input alone)"
    if initial.dim() == 0 or initial.shape[0] != inputs[0].shape[0]:
        return "forward_func does not return one row per example"
    if batch_dependent_modules(forward_func):
        return "the model has BatchNorm layers in training mode"
    return ""


def try_incremental(forward_func: Callable[..., Any], inputs: Tuple[Tensor, ...], baseline: Tensor,
                    perturbations: Any, reducer: Reducer, target: Target,
                    additional_args: Optional[Tuple[Any, ...]], initial: Tensor,
                    options: EngineOptions, mode: Mode = "auto", tau: float = 1.0,
                    plan_options: Optional[PlanOptions] = None) -> PlanSummary:
    """Run every perturbation through the incremental path and feed ``reducer``, if it
    applies; else leave the reducer untouched and say why in the returned summary.

    Args:
        inputs: the call's (N, C, *S) input (a 1-tuple). baseline: broadcastable to it.
        perturbations: :class:`WindowPerturbations` or :class:`SegmentPerturbations`, or
            a string saying why the call has none the incremental path can take.
        mode: "auto" (incremental when it applies and pays), True (required: raises
            ``InputError`` with the reason when it cannot run), False (never).
        tau: Krypton's projective-field threshold; 1 = exact.
    """
    if mode is False:
        return PlanSummary("full", "incremental=False")
    why = perturbations if isinstance(perturbations, str) else call_blocker(inputs, additional_args, initial, forward_func)
    plan: Optional[IncrementalPlan] = None
    if not why:
        opts = plan_options or PlanOptions()
        opts = PlanOptions(opts.max_local_fraction, 0.0 if mode is True else opts.min_speedup, float(tau))
        plan = build_plan(forward_func, inputs[0], baseline, perturbations, opts)
        why = "" if plan.applies else plan.reason
    if why:
        if mode is True or tau < 1.0:
            raise InputError(f"the incremental path cannot run: {why}")
        ceiling = plan.flop_ceiling if plan is not None else 1.0
        return PlanSummary("full", why, ceiling, 1.0)
    assert plan is not None
    n = inputs[0].shape[0]
    ids = _Ids(perturbations.n_perturbations, n, inputs[0].device)
    forward = _Forward(PatchRunner(plan), n, forward_func, type(perturbations).__name__)
    run_perturbations(ids, reducer, forward, inputs, target, None, initial, options)
    return PlanSummary("incremental", plan.reason, plan.flop_ceiling, plan.planned_speedup,
                       plan.approximate, float(tau))


def occlusion_windows(call: Any, plan: Any) -> Union[WindowPerturbations, str]:
    """The windows of an :class:`~fastxai.engine.plans.OcclusionPlan` over one (N, C, *S)
    input, or why the call has none the incremental path can take."""
    why = _not_one_image(call.inputs)
    if why:
        return why
    x = call.inputs[0]
    return WindowPerturbations(plan.starts[0], plan.grids[0].window, x.shape[1:])


def ablation_segments(call: Any, ids: Tensor) -> Union[SegmentPerturbations, str]:
    """The features of a FeatureAblation call as spatial segments of one (N, C, *S) input
    (``ids``: the sorted feature ids), or why the call has none the incremental path can take."""
    why = _not_one_image(call.inputs)
    if why:
        return why
    x = call.inputs[0]
    if not x.is_floating_point() or ids.numel() == 0:
        return f"the input is {x.dtype}, not floating point" if ids.numel() else "no features to ablate"
    return SegmentPerturbations(call.feature_masks[0], ids, x.shape[1:], x.shape[0])


def run_call_incremental(forward_func: Callable[..., Any], call: Any, plan: Any, reducer: Reducer,
                         initial: Tensor, perturbations: Callable[[], Union[Any, str]],
                         mode: Mode = "auto", tau: float = 1.0) -> PlanSummary:
    """:func:`~fastxai.engine.perturb.run_call` through the incremental path when it applies
    (``perturbations()`` builds its view of ``plan``), else the normal path; returns which
    path ran and why (a method stores it as ``last_plan``)."""
    summary = PlanSummary("full", "incremental=False")
    if mode is not False:
        summary = try_incremental(forward_func, call.inputs, call.baselines[0], perturbations(), reducer,
                                  call.target, call.additional_args, initial, call.options, mode, tau)
    if summary.path == "full":
        run_call(forward_func, call, plan, reducer, initial)
    return summary
