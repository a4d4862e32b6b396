"""The one perturbation loop.

A perturbation method is a *plan* (which perturbed rows to build for perturbation indices
``[p0, p1)``) plus an *accumulator* (how the model's outputs for those rows become
attributions). :func:`run_perturbations` owns everything else: chunk sizing (fastest rows per
call, bounded by ``max_batch`` / ``max_memory``), the forward call with Captum's argument
layout, target selection, finite checks, output-shape checks and progress.

Row layout inside a chunk is perturbation-major, as Captum's: row ``(p - p0) * N + n`` holds
example ``n`` under perturbation ``p``.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Protocol, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError, NonFiniteOutputError
from fastxai._captum.forward import call_forward
from fastxai._captum.inputs import expand_additional_args
from fastxai._captum.targets import TargetSelector
from fastxai.engine.batching import (
    ChunkSizer,
    batch_dependent_modules,
    estimate_row_bytes,
    model_key,
)
from fastxai.engine.progress import Progress


class PerturbationPlan(Protocol):
    """What to perturb. ``n_perturbations`` = P; ``build`` returns the inputs for ``[p0, p1)``,
    each of shape ((p1 - p0) * N, ...), perturbation-major."""

    n_perturbations: int

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]: ...


class Accumulator(Protocol):
    """How outputs become attributions. ``outputs`` is (p1 - p0, O): O model values per
    perturbation (O = N for one target value per example, 1 for a scalar-per-batch forward).

    An accumulator whose update needs nothing but the outputs may set ``deferred = True``:
    the engine then keeps the (small, target-selected) outputs of every chunk and calls
    ``update(0, P, all_outputs)`` once at the end instead of once per chunk.
    """

    def update(self, p0: int, p1: int, outputs: Tensor) -> None: ...


# Perturbed inputs of a whole call up to this size are built by one kernel call before the
# first forward, and chunks become views into them: on small (tabular) problems the per-chunk
# build call and its Python dispatch cost as much as a forward, and one pass over a buffer
# this size stays in cache.
PREBUILD_BYTES = 8 << 20


@dataclass
class EngineOptions:
    """Engine-level controls shared by every perturbation method.

    ``perturbations_per_eval``: Captum's cap (None = auto). ``max_batch``: rows per forward.
    ``max_memory``: bytes per forward. ``show_progress``: progress bar.
    """

    perturbations_per_eval: Optional[int] = None
    max_batch: Optional[int] = None
    max_memory: Optional[int] = None
    show_progress: bool = False
    desc: str = "fastxai"

    def validate(self) -> None:
        ppe = self.perturbations_per_eval
        if ppe is not None and (not isinstance(ppe, int) or isinstance(ppe, bool) or ppe < 1):
            raise InputError(
                f"perturbations_per_eval must be an integer >= 1 or None (auto), got {ppe!r}"
            )


def check_batch_independent(forward_func: Callable[..., Any]) -> None:
    """Refuse models whose per-row output depends on other rows (packing would change it)."""
    bad = batch_dependent_modules(forward_func)
    if bad:
        raise InputError(
            "forward_func has BatchNorm layers in training mode "
            f"({', '.join(bad[:5])}): their output for one row depends on the other rows of the "
            "batch, so batched perturbations would change the answer. Call model.eval() first."
        )


def initial_outputs(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetSelector,
    additional_args: Optional[Tuple[Any, ...]],
) -> Tensor:
    """The model on the unperturbed inputs, target-selected, checked finite."""
    with torch.no_grad():
        out = target.select(call_forward(forward_func, inputs, additional_args))
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise NonFiniteOutputError("forward_func returned NaN or Inf on the unperturbed inputs")
    return out


def run_perturbations(
    plan: PerturbationPlan,
    accumulator: Accumulator,
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetSelector,
    additional_args: Optional[Tuple[Any, ...]],
    initial: Tensor,
    options: EngineOptions,
) -> None:
    """Push every perturbation of ``plan`` through ``forward_func`` and feed ``accumulator``.

    Args:
        inputs: tuple of (N, ...) tensors.
        initial: target-selected model output on the unperturbed inputs; its number of
            elements O fixes the output layout; a 0-d/one-element output for N > 1 means
            the forward returns one scalar per batch, which forces one perturbation per call.
    """
    options.validate()
    check_batch_independent(forward_func)
    n = inputs[0].shape[0]
    total = plan.n_perturbations
    n_out = initial.numel()
    scalar_per_batch = initial.dim() == 0 or (n_out == 1 and n > 1)
    ppe = options.perturbations_per_eval
    if scalar_per_batch:
        ppe = 1
    max_rows = options.max_batch
    if ppe is not None:
        max_rows = ppe * n if max_rows is None else min(max_rows, ppe * n)
    sizer = ChunkSizer(
        key=model_key(forward_func, inputs, "forward"),
        total_rows=total * max(n, 1),
        row_bytes=estimate_row_bytes(inputs, "forward"),
        max_batch=max_rows,
        max_memory=options.max_memory,
        granularity=max(n, 1),
        device=inputs[0].device,
    )
    progress = Progress(total, options.desc, options.show_progress)
    prebuilt = _prebuild(plan, inputs, total, options.max_memory)
    deferred = bool(getattr(accumulator, "deferred", False))
    # Deferred outputs are copied into one (P, O) buffer rather than kept as per-chunk views:
    # a view keeps the model's whole output alive, and small allocations that outlive a
    # forward shift the allocator's heap so the next forward's activations land on cold
    # memory (measured: 5 MLP forwards 25 % slower when their outputs were kept in a list).
    collected: Optional[Tensor] = None
    # Non-finite outputs are flagged on the device (a 0-d flag per chunk, or one check of the
    # deferred outputs), so the loop never waits on the host; the flags are read at the end.
    finite_flags: List[Tensor] = []
    chunk_starts: List[int] = []
    p0 = 0
    with torch.no_grad():
        while p0 < total:
            rows = sizer.next_rows((total - p0) * max(n, 1))
            k = max(1, rows // max(n, 1))
            p1 = min(total, p0 + k)
            k = p1 - p0
            t0 = sizer.clock()
            if prebuilt is None:
                batch = plan.build(inputs, p0, p1)
            else:
                batch = tuple(b[p0 * n : p1 * n] for b in prebuilt)
            out = call_forward(
                forward_func, batch, expand_additional_args(additional_args, k)
            )
            out = target.select(out, k)
            _check_chunk_shape(out, initial, k, n, p0, p1, scalar_per_batch)
            chunk_starts.append(p0)
            out = out.reshape(k, n_out)
            if deferred:
                if collected is None:
                    collected = torch.empty((total, n_out), dtype=out.dtype, device=out.device)
                collected[p0:p1].copy_(out)
            else:
                if out.is_floating_point():
                    finite_flags.append(torch.isfinite(out).all())
                accumulator.update(p0, p1, out)
            sizer.record(k * max(n, 1), sizer.clock() - t0)
            progress.update(k)
            p0 = p1
        if collected is not None:
            accumulator.update(0, total, collected)
    progress.close()
    if collected is not None and collected.is_floating_point():
        finite = torch.isfinite(collected).all(1)  # (P,)
        if not bool(finite.all()):
            first_bad = int((~finite).nonzero()[0])
            _raise_non_finite(chunk_starts, bisect.bisect_right(chunk_starts, first_bad) - 1, total)
    if finite_flags and not bool(torch.stack(finite_flags).all()):
        _raise_non_finite(chunk_starts, int((~torch.stack(finite_flags)).nonzero()[0]), total)


def _raise_non_finite(chunk_starts: List[int], i: int, total: int) -> None:
    bad = chunk_starts[i]
    end = chunk_starts[i + 1] if i + 1 < len(chunk_starts) else total
    raise NonFiniteOutputError(
        f"forward_func returned NaN or Inf for the perturbation chunk {bad}..{end - 1} "
        f"(perturbations are numbered 0..{total - 1}); check the baselines or the model"
    )


def _prebuild(
    plan: PerturbationPlan, inputs: Tuple[Tensor, ...], total: int, max_memory: Optional[int]
) -> Optional[Tuple[Tensor, ...]]:
    """Every perturbed row of the call, (P·N, ...) per input, when that is small enough."""
    n = inputs[0].shape[0] if inputs and inputs[0].dim() > 0 else 0
    if not getattr(plan, "prebuild", True) or total == 0 or n == 0:
        return None
    if any(x.dim() == 0 or x.shape[0] != n for x in inputs):
        return None  # Captum-edge inputs whose dim 0 is not the batch
    size = total * sum(x.numel() * x.element_size() for x in inputs)
    if size > PREBUILD_BYTES or (max_memory is not None and size > max_memory):
        return None
    built = plan.build(inputs, 0, total)
    if any(b.dim() == 0 or b.shape[0] != total * n for b in built):
        return None  # a plan whose rows are not perturbation-major (P·N, ...): chunk it
    return built


def _check_chunk_shape(
    out: Tensor, initial: Tensor, k: int, n: int, p0: int, p1: int, scalar_per_batch: bool
) -> None:
    if not scalar_per_batch and k > 1:
        if out.dim() == 0 or out.shape[0] != k * initial.shape[0]:
            raise InputError(
                "forward_func's output must grow with the input batch so perturbations can be "
                f"batched: for {n} examples it returned shape {tuple(initial.shape)}, for {k * n} "
                f"rows shape {tuple(out.shape)}. Pass perturbations_per_eval=1 for a forward "
                "that aggregates over the batch."
            )
    if out.numel() != k * initial.numel():
        raise InputError(
            f"forward_func returned {out.numel()} values for perturbations {p0}..{p1 - 1}; "
            f"expected {k * initial.numel()}"
        )
