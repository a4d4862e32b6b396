"""The one gradient loop.

A gradient method is three parts handed to :func:`iterate_gradients`:

* a **step plan** (:mod:`fastxai.engine.steps`): which points are differentiated for steps
  ``[s0, s1)`` -- IG's path, GradientShap's draws, the inputs themselves -- with their targets
  and additional args;
* a **"with respect to" strategy** (:mod:`fastxai.engine.wrt`): the inputs, a layer's output or
  input, a layer replaced by the path points, or one neuron of a layer;
* **sizing** (:class:`Sizing`): Captum's ``internal_batch_size``, or ``max_batch`` /
  ``max_memory`` with the calibrated :class:`~fastxai.engine.batching.ChunkSizer`.

The loop owns the rest: chunking in whole steps, one forward + one backward per chunk for all
input tensors together, the dropout and non-finite rules (NaN / Inf in the differentiated
outputs raise :class:`~fastxai._captum.errors.NonFiniteOutputError`, the same rule and opt-out
as the perturbation loop). Row layout inside a chunk is step-major: row ``(s - s0) * N + n``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError
from fastxai.engine.batching import ChunkSizer, estimate_row_bytes, model_key
from fastxai.engine.checks import FiniteFlags, rows_per_step_error
from fastxai.engine.forward import call_forward
from fastxai.engine.hooks import LayerCapture, root_module
from fastxai.engine.steps import SinglePass, StepPlan
from fastxai.engine.wrt import (  # noqa: F401  (re-exported: the loop's vocabulary)
    Differentiated,
    Inputs,
    Layer,
    differentiate,
    select_row_outputs,
)

Tensors = Tuple[Tensor, ...]


def check_float_inputs(inputs: Sequence[Tensor], name: str = "inputs") -> None:
    """Gradients need floating-point inputs; integer token ids belong to a layer method."""
    for i, x in enumerate(inputs):
        if not (x.is_floating_point() or x.is_complex()):
            raise InputError(
                f"{name}[{i}] has dtype {x.dtype}: gradient methods need floating-point inputs. "
                "For token ids / categorical codes attribute to the embedding layer instead "
                "(LayerIntegratedGradients, LayerGradientXActivation)."
            )


def check_dropout(forward_func: Callable[..., Any]) -> None:
    """Dropout in training mode is random per call; refuse it when deterministic algorithms
    are requested (results would not be reproducible)."""
    if not torch.are_deterministic_algorithms_enabled():
        return
    root = root_module(forward_func)
    if root is None:
        return
    bad = [
        name or type(m).__name__
        for name, m in root.named_modules()
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training
    ]
    if bad:
        raise InputError(
            f"the model has dropout in training mode ({', '.join(bad[:5])}) while "
            "torch.are_deterministic_algorithms_enabled() is True: attributions would be random. "
            "Call model.eval() first."
        )


class SavedBytes:
    """Context that counts the bytes autograd saves for the backward (activations), excluding
    the model's parameters: an exact per-row memory figure for ``max_memory``."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        root = root_module(forward_func)
        self._params = {p.data_ptr() for p in root.parameters()} if root is not None else set()
        self._seen: set = set()
        self.nbytes = 0
        self._ctx: Any = None

    def _pack(self, t: Tensor) -> Tensor:
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in self._seen and ptr not in self._params:
                self._seen.add(ptr)
                self.nbytes += st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    def __enter__(self) -> "SavedBytes":
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


@dataclass(frozen=True)
class Sizing:
    """How many steps a chunk holds: Captum's ``internal_batch_size`` (``// N`` steps), else
    at most ``max_batch`` rows / ``max_memory`` bytes, calibrated for speed."""

    internal_batch_size: Optional[int] = None
    max_batch: Optional[int] = None
    max_memory: Optional[int] = None


@dataclass
class GradientChunk:
    """One processed chunk: steps ``[s0, s1)``; ``grads`` w.r.t. the strategy's tensors, each
    ((s1 - s0) * N, ...); ``layer`` the layer's values (layer strategies), ``outputs`` the
    differentiated scalars ((s1 - s0) * N,)."""

    s0: int
    s1: int
    grads: Tensors
    layer: Tensors
    outputs: Tensor
    layer_is_tuple: bool = False
    layer_counts: Tuple[int, ...] = ()


def steps_per_chunk_fixed(internal_batch_size: int, n: int) -> int:
    """Captum's rule: ``internal_batch_size // N`` steps (>= 1; warns when < N)."""
    if internal_batch_size < n:
        warnings.warn(
            "Internal batch size cannot be less than the number of input examples. "
            f"Defaulting to internal batch size of {n} equal to the number of examples.",
            stacklevel=4,
        )
    return max(1, internal_batch_size // n)


class _Chunking:
    """Steps per chunk for a plan under a :class:`Sizing` (fixed, calibrated, or measured on a
    first one-step chunk when ``max_memory`` is set)."""

    def __init__(self, forward_func: Callable[..., Any], plan: StepPlan, sizing: Sizing) -> None:
        self.forward_func, self.plan, self.sizing = forward_func, plan, sizing
        n = plan.rows
        self.sizer: Optional[ChunkSizer] = None
        self.probe: Optional[SavedBytes] = None
        self.steps = 0
        if sizing.internal_batch_size is None and sizing.max_batch is not None and sizing.max_batch < n:
            # a step's N rows go through one forward + backward: refused, never exceeded
            raise rows_per_step_error(sizing.max_batch, n, "step")
        if sizing.internal_batch_size is not None:
            self.steps = steps_per_chunk_fixed(sizing.internal_batch_size, n)
        elif sizing.max_memory is not None and plan.n_steps > 1:
            self.probe = SavedBytes(forward_func)  # measure a one-step chunk first
            self.steps = 1
        else:
            self.sizer = self._sizer(estimate_row_bytes(plan.like, "backward"), plan.n_steps * n)

    def _sizer(self, row_bytes: int, total: int) -> ChunkSizer:
        p, s = self.plan, self.sizing
        sz = ChunkSizer(model_key(self.forward_func, p.like, p.tag), total, row_bytes,
                        max_batch=s.max_batch, max_memory=s.max_memory, granularity=p.rows,
                        device=p.like[0].device if p.like else None)
        if sz.cap < p.rows and s.max_memory is not None:
            raise InputError(
                f"max_memory={s.max_memory} bytes holds {sz.cap} rows of forward + backward "
                f"(~{row_bytes} bytes each), below the {p.rows} rows one step needs; raise it")
        return sz

    def next_steps(self, s0: int) -> int:
        if self.sizer is not None:
            self.steps = max(1, self.sizer.next_rows((self.plan.n_steps - s0) * self.plan.rows)
                             // self.plan.rows)
            self.t0 = self.sizer.clock()
        return self.steps

    def done(self, s1: int, k: int, leaves: Tensors) -> None:
        n = self.plan.rows
        if self.sizer is not None:
            self.sizer.record(k * n, self.sizer.clock() - self.t0)
        elif self.probe is not None:
            leaf_bytes = sum(t.numel() * t.element_size() for t in leaves)
            # peak RSS measured at ~2.5x the saved activations (transient forward buffers and
            # activation gradients come and go); 3x keeps a max_memory cap honest on CPU
            per_row = (3 * self.probe.nbytes + 3 * leaf_bytes) // max(1, k * n) + 1
            self.sizer = self._sizer(int(per_row), max(1, (self.plan.n_steps - s1) * n))
            self.probe = None


def iterate_gradients(
    forward_func: Callable[..., Any],
    plan: StepPlan,
    wrt: Any = None,
    sizing: Sizing = Sizing(),
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Iterator[GradientChunk]:
    """Yield :class:`GradientChunk` s covering the plan's steps ``[0, n_steps)`` in order.

    Args:
        plan: a :class:`~fastxai.engine.steps.StepPlan` (points, targets, args per step).
        wrt: a strategy of :mod:`fastxai.engine.wrt` (default :class:`~fastxai.engine.wrt.Inputs`).
        sizing: :class:`Sizing`.
        grad_kwargs: passed to ``torch.autograd.grad`` (Captum's argument).
    """
    check_dropout(forward_func)
    wrt = wrt if wrt is not None else Inputs()
    flags = FiniteFlags("step", plan.n_steps)
    chunking = _Chunking(forward_func, plan, sizing)
    s0 = 0
    while s0 < plan.n_steps:
        s1 = min(plan.n_steps, s0 + chunking.next_steps(s0))
        with torch.enable_grad():
            st = plan.step(s0, s1)
            leaves = wrt.prepare(st.leaves)
            res: Differentiated = wrt.run(forward_func, leaves, st.inputs(leaves), st.args, st.target,
                                          grad_kwargs, chunking.probe)
        out = res.out.detach()
        flags.add(out, s0, s1 - 1)
        yield GradientChunk(s0, s1, res.grads, res.layer, out, res.layer_is_tuple, res.layer_counts)
        chunking.done(s1, s1 - s0, leaves)
        # drop this chunk's tensors before the next forward allocates: its activations then
        # reuse the memory just freed (warm in cache) instead of landing beside live leftovers
        del st, leaves, res, out
        s0 = s1
    flags.check()  # NaN / Inf outputs: the same rule (and opt-out) as the perturbation loop


def single_pass(
    forward_func: Callable[..., Any],
    inputs: Tensors,
    target: Any,
    additional_args: Optional[Tuple[Any, ...]],
    wrt: Any = None,
    grad_kwargs: Optional[Dict[str, Any]] = None,
    forward_inputs: Optional[Callable[[Tensors], Tensors]] = None,
) -> GradientChunk:
    """One forward + one backward over ``inputs`` (N, ...) w.r.t. ``wrt`` (default the inputs);
    ``forward_inputs`` maps the leaves to what the forward gets (default: the leaves)."""
    plan = SinglePass(inputs, target, additional_args, forward_inputs)
    n = max(1, plan.rows)
    (chunk,) = list(iterate_gradients(forward_func, plan, wrt, Sizing(internal_batch_size=n), grad_kwargs))
    return chunk


def gradients(
    forward_func: Callable[..., Any],
    inputs: Tensors,
    target: Any,
    additional_args: Optional[Tuple[Any, ...]],
) -> Tensors:
    """Plain input gradients of the target outputs (each like its input), one pass."""
    check_float_inputs(inputs)
    return single_pass(forward_func, inputs, target, additional_args).grads


def layer_gradients_and_evals(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    inputs: Tensors,
    target: Any,
    additional_args: Optional[Tuple[Any, ...]],
    layer_input: bool = False,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[Tensors, Tensors, bool]:
    """Gradients of the target outputs w.r.t. a layer's output (or input), and its values."""
    ch = single_pass(forward_func, inputs, target, additional_args, Layer(layer, layer_input), grad_kwargs)
    return ch.grads, ch.layer, ch.layer_is_tuple


def layer_eval(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    inputs: Tensors,
    additional_args: Optional[Tuple[Any, ...]],
    layer_input: bool = False,
) -> Tuple[Tensors, bool]:
    """A layer's output (input) values for ``inputs`` under ``torch.no_grad``."""
    cap = LayerCapture(forward_func, layer, use_input=layer_input)
    with torch.no_grad(), cap:
        call_forward(forward_func, inputs, additional_args)
    return tuple(t.detach() for t in cap.tensors), cap.is_tuple
