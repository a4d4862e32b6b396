"""The one perturbation loop.

A perturbation method is a *plan* (which perturbed rows to build for perturbation indices
``[p0, p1)``) plus a *reducer* (how the model's outputs for those rows become attributions).
:func:`run_perturbations` owns everything else: chunk sizing (fastest rows per call, bounded
by ``max_batch`` / ``max_memory``), the forward call with Captum's argument layout, target
selection, finite checks, output-shape checks and progress.

Row layout inside a chunk is perturbation-major, as Captum's: row ``(p - p0) * N + n`` holds
example ``n`` under perturbation ``p``. When ``max_batch`` (or ``max_memory``) allows fewer
rows than one perturbation's N, each perturbation's rows are split over several forwards
(the unperturbed forward too); where that is impossible (a forward returning one value per
batch, inputs whose dim 0 is not the batch) the call raises instead of exceeding the cap.
"""
from __future__ import annotations

import bisect
from typing import Any, Callable, List, NamedTuple, Optional, Protocol, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError, NonFiniteOutputError
from fastxai.engine.batching import ChunkSizer, estimate_row_bytes, model_key
from fastxai.engine.checks import (
    FiniteFlags,
    batch_dependent_modules,
    check_finite,
    non_finite_allowed,
    rows_per_step_error,
)
from fastxai.engine.forward import call_forward, expand_additional_args, slice_rows
from fastxai.engine.options import EngineOptions
from fastxai.engine.progress import Progress
from fastxai.engine.targets import Target

__all__ = ["Accumulator", "Built", "EngineOptions", "PREBUILD_BYTES", "PerturbationPlan", "Reducer",
           "check_batch_independent", "initial_for", "initial_outputs", "row_cap", "run_call",
           "run_perturbations"]


class Built(NamedTuple):
    """What a plan built for perturbations ``[p0, p1)``: the model inputs ``rows`` (each
    ((p1 - p0)·N, ...)) and optional per-perturbation ``extra`` data (leading dim p1 - p0)
    that the engine hands to a reducer with ``wants_extra`` (RISE's masks)."""

    rows: Tuple[Tensor, ...]
    extra: Optional[Tensor] = None


class PerturbationPlan(Protocol):
    """What to perturb. ``n_perturbations`` = P; ``build`` returns the inputs for ``[p0, p1)``,
    each of shape ((p1 - p0) * N, ...), perturbation-major, or a :class:`Built`."""

    n_perturbations: int

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Union[Tuple[Tensor, ...], Built]: ...


class Reducer(Protocol):
    """How outputs become attributions. ``outputs`` is (p1 - p0, O): O model values per
    perturbation (O = N for one target value per example, N·K for K targets, 1 for a
    scalar-per-batch forward).

    A reducer whose update needs nothing but the outputs may set ``deferred = True``: the
    engine then keeps the (small, target-selected) outputs of every chunk and calls
    ``update(0, P, all_outputs)`` once at the end instead of once per chunk. A reducer with
    ``wants_extra = True`` is called ``update(p0, p1, outputs, extra)`` with the plan's
    :class:`Built` extra for those perturbations; a reducer never reads plan state.
    """

    def update(self, p0: int, p1: int, outputs: Tensor) -> None: ...


Accumulator = Reducer  # the name engine.md used first

# Perturbed inputs of a whole call up to this size are built by one kernel call before the
# first forward, and chunks become views into them: on small (tabular) problems the per-chunk
# build call and its Python dispatch cost as much as a forward, and one pass over a buffer
# this size stays in cache.
PREBUILD_BYTES = 8 << 20


def check_batch_independent(forward_func: Callable[..., Any]) -> None:
    """Refuse models whose per-row output depends on other rows (packing would change it)."""
    bad = batch_dependent_modules(forward_func)
    if bad:
        raise InputError(
            "forward_func has BatchNorm layers in training mode "
            f"({', '.join(bad[:5])}): their output for one row depends on the other rows of the "
            "batch, so batched perturbations would change the answer. Call model.eval() first."
        )


def row_cap(options: Optional[EngineOptions], inputs: Tuple[Tensor, ...]) -> Optional[int]:
    """Rows one forward may hold under ``max_batch`` and ``max_memory`` (None: no cap)."""
    if options is None:
        return None
    caps = [options.max_batch] if options.max_batch is not None else []
    if options.max_memory is not None:
        caps.append(max(1, options.max_memory // estimate_row_bytes(inputs, "forward")))
    return min(caps) if caps else None


def _splittable(inputs: Tuple[Tensor, ...], n: int) -> bool:
    return n > 0 and all(x.dim() > 0 and x.shape[0] == n for x in inputs)


def _forward_rows(
    forward_func: Callable[..., Any], batch: Tuple[Tensor, ...], args: Optional[Tuple[Any, ...]],
    target: Target, copies: int, max_rows: Optional[int], n: int, what: str,
) -> Tensor:
    """Target-selected outputs of ``batch`` (``copies`` stacked copies of N examples), in
    forwards of at most ``max_rows`` rows (``args`` already expanded to the batch's rows)."""
    rows = copies * n
    if max_rows is None or rows <= max_rows:
        return target.select(call_forward(forward_func, batch, args), copies)
    if not _splittable(batch, rows):
        raise rows_per_step_error(max_rows, n, what)
    parts = []
    for r0 in range(0, rows, max_rows):
        r1 = min(rows, r0 + max_rows)
        out = call_forward(forward_func, tuple(b[r0:r1] for b in batch), slice_rows(args, r0, r1))
        if out.dim() == 0 or out.shape[0] != r1 - r0:
            raise rows_per_step_error(max_rows, n, what + " (forward_func does not return one output "
                                      "per row, so its rows cannot be split)")
        parts.append(target.select(out, copies, rows=(r0, r1)))
    return torch.cat(parts)


def initial_outputs(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: Any,
    additional_args: Optional[Tuple[Any, ...]],
    options: Optional[EngineOptions] = None,
) -> Tensor:
    """The model on the unperturbed inputs, target-selected, checked finite (in forwards of at
    most ``options``' row cap)."""
    n = inputs[0].shape[0] if inputs and inputs[0].dim() > 0 else 1
    with torch.no_grad():
        out = _forward_rows(forward_func, inputs, additional_args, Target.of(target), 1,
                            row_cap(options, inputs), n, "forward of the unperturbed inputs")
    check_finite(out, "the unperturbed inputs")
    return out


def run_perturbations(
    plan: PerturbationPlan,
    reducer: Reducer,
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: Any,
    additional_args: Optional[Tuple[Any, ...]],
    initial: Tensor,
    options: EngineOptions,
) -> None:
    """Push every perturbation of ``plan`` through ``forward_func`` and feed ``reducer``.

    Args:
        inputs: tuple of (N, ...) tensors.
        target: a :class:`~fastxai.engine.targets.Target` (or any form it accepts).
        initial: target-selected model output on the unperturbed inputs; its number of
            elements O fixes the output layout; a 0-d/one-element output for N > 1 means
            the forward returns one scalar per batch, which forces one perturbation per call.
    """
    check_batch_independent(forward_func)
    target = Target.of(target)
    n = inputs[0].shape[0] if inputs and inputs[0].dim() > 0 else 1
    rows_n, total = max(n, 1), plan.n_perturbations
    scalar_per_batch = initial.dim() == 0 or (initial.numel() == 1 and n > 1)
    cap = row_cap(options, inputs)
    split = cap is not None and cap < rows_n  # one perturbation's rows over several forwards
    if split and (scalar_per_batch or not _splittable(inputs, n)):
        raise rows_per_step_error(cap, n, "perturbation")
    sizer = _sizer(forward_func, inputs, options, total, rows_n, split, scalar_per_batch)
    progress = Progress(total, options.desc, options.show_progress)
    prebuilt = _prebuild(plan, inputs, total, options.max_memory)
    sink = _Sink(reducer, total, initial.numel())
    p0 = 0
    with torch.no_grad():
        while p0 < total:
            k = 1 if split else max(1, sizer.next_rows((total - p0) * rows_n) // rows_n)
            p1 = min(total, p0 + k)
            k = p1 - p0
            t0 = sizer.clock()
            if prebuilt is None:
                batch, extra = _unpack(plan.build(inputs, p0, p1))
            else:
                batch = tuple(b[p0 * n : p1 * n] for b in prebuilt.rows)
                extra = None if prebuilt.extra is None else prebuilt.extra[p0:p1]
            args = expand_additional_args(additional_args, k)
            out = _forward_rows(forward_func, batch, args, target, k, cap if split else None, n,
                                "perturbation")
            _check_chunk_shape(out, initial, k, n, p0, p1, scalar_per_batch)
            sink.deliver(p0, p1, out, extra)
            if not split:
                sizer.record(k * rows_n, sizer.clock() - t0)
            progress.update(k)
            p0 = p1
        sink.finish()
    progress.close()
    sink.check()


def _sizer(forward_func: Callable[..., Any], inputs: Tuple[Tensor, ...], options: EngineOptions,
           total: int, rows_n: int, split: bool, scalar_per_batch: bool) -> ChunkSizer:
    """The chunk sizer of a call: whole perturbations per forward (granularity N), capped by
    ``perturbations_per_eval`` (1 for a scalar-per-batch forward), ``max_batch`` and
    ``max_memory``; one perturbation per chunk when its rows are split."""
    ppe = 1 if scalar_per_batch else options.perturbations_per_eval
    max_rows = options.max_batch
    if ppe is not None:
        max_rows = ppe * rows_n if max_rows is None else min(max_rows, ppe * rows_n)
    return ChunkSizer(
        key=model_key(forward_func, inputs, "forward"),
        total_rows=total * rows_n,
        row_bytes=estimate_row_bytes(inputs, "forward"),
        max_batch=rows_n if split else max_rows,
        max_memory=None if split else options.max_memory,
        granularity=rows_n,
        device=inputs[0].device,
    )


class _Sink:
    """Hands each chunk's (k, O) outputs to the reducer (with the plan's extra data when it
    wants it), or collects them for a deferred reducer; flags non-finite values on the device
    (read once, by :meth:`check`)."""

    def __init__(self, reducer: Reducer, total: int, n_out: int) -> None:
        self.reducer, self.total, self.n_out = reducer, total, n_out
        self.deferred = bool(getattr(reducer, "deferred", False))
        self.wants_extra = bool(getattr(reducer, "wants_extra", False))
        if self.deferred and self.wants_extra:
            raise TypeError("a reducer cannot be both deferred and want the plan's extra data")
        # Deferred outputs are copied into one (P, O) buffer rather than kept as per-chunk
        # views: a view keeps the model's whole output alive, and small allocations that
        # outlive a forward shift the allocator's heap so the next forward's activations land
        # on cold memory (measured: 5 MLP forwards 25 % slower with their outputs in a list).
        self.collected: Optional[Tensor] = None
        self.flags = FiniteFlags("perturbation", total)
        self.chunk_starts: List[int] = []

    def deliver(self, p0: int, p1: int, out: Tensor, extra: Optional[Tensor]) -> None:
        self.chunk_starts.append(p0)
        out = out.reshape(p1 - p0, self.n_out)
        if self.deferred:
            if self.collected is None:
                self.collected = torch.empty((self.total, self.n_out), dtype=out.dtype, device=out.device)
            self.collected[p0:p1].copy_(out)
            return
        self.flags.add(out, p0, p1 - 1)
        if self.wants_extra:
            self.reducer.update(p0, p1, out, extra)
        else:
            self.reducer.update(p0, p1, out)

    def finish(self) -> None:
        if self.collected is not None:
            self.reducer.update(0, self.total, self.collected)

    def check(self) -> None:
        if self.collected is not None:
            _check_collected(self.collected, self.chunk_starts, self.total)
        self.flags.check()


def _check_collected(collected: Tensor, chunk_starts: List[int], total: int) -> None:
    """One finite check over the deferred (P, O) outputs, naming the chunk of the first bad row."""
    if non_finite_allowed() or not collected.is_floating_point():
        return
    finite = torch.isfinite(collected).all(1)  # (P,)
    if bool(finite.all()):
        return
    i = bisect.bisect_right(chunk_starts, int((~finite).nonzero()[0])) - 1
    end = chunk_starts[i + 1] if i + 1 < len(chunk_starts) else total
    raise NonFiniteOutputError(
        f"forward_func returned NaN or Inf for the perturbation chunk {chunk_starts[i]}..{end - 1} "
        f"(perturbations are numbered 0..{total - 1}); check the baselines or the model "
        "(wrap the call in fastxai.allow_non_finite() to let them through)"
    )


def _unpack(built: Union[Tuple[Tensor, ...], Built]) -> Tuple[Tuple[Tensor, ...], Optional[Tensor]]:
    return (built.rows, built.extra) if isinstance(built, Built) else (tuple(built), None)


def _prebuild(
    plan: PerturbationPlan, inputs: Tuple[Tensor, ...], total: int, max_memory: Optional[int]
) -> Optional[Built]:
    """Every perturbed row of the call, (P·N, ...) per input, when that is small enough."""
    n = inputs[0].shape[0] if inputs and inputs[0].dim() > 0 else 0
    if not getattr(plan, "prebuild", True) or total == 0 or n == 0:
        return None
    if any(x.dim() == 0 or x.shape[0] != n for x in inputs):
        return None  # Captum-edge inputs whose dim 0 is not the batch
    size = total * sum(x.numel() * x.element_size() for x in inputs)
    if size > PREBUILD_BYTES or (max_memory is not None and size > max_memory):
        return None
    rows, extra = _unpack(plan.build(inputs, 0, total))
    if any(b.dim() == 0 or b.shape[0] != total * n for b in rows):
        return None  # a plan whose rows are not perturbation-major (P·N, ...): chunk it
    return Built(rows, extra)


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


def initial_for(forward_func: Callable[..., Any], call: Any) -> Tensor:
    """:func:`initial_outputs` for a call record (anything with ``inputs``, ``target``,
    ``additional_args`` and ``options``, e.g. :class:`fastxai._captum.call.CallRecord`)."""
    return initial_outputs(forward_func, call.inputs, call.target, call.additional_args, call.options)


def run_call(forward_func: Callable[..., Any], call: Any, plan: PerturbationPlan, reducer: Reducer,
             initial: Tensor) -> None:
    """:func:`run_perturbations` for a call record (see :func:`initial_for`)."""
    if plan.n_perturbations:
        run_perturbations(plan, reducer, forward_func, call.inputs, call.target,
                          call.additional_args, initial, call.options)
