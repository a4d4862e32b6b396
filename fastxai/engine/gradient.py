"""The one gradient loop.

A gradient method is a *step plan* (which rows to differentiate for steps ``[s0, s1)``: IG's
interpolation points, noise samples, ...) plus what it does with each chunk's gradients.
:func:`iterate_gradients` owns the rest: chunk sizing (:class:`~fastxai.engine.batching.ChunkSizer`,
or Captum's ``internal_batch_size``), Captum's argument layout (targets and tensor
``additional_forward_args`` repeated step-major), one forward + one backward per chunk for all
input tensors together, optional layer capture / replacement, and the input checks.

Row layout inside a chunk is step-major, as Captum's: row ``(s - s0) * N + n``.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError
from fastxai.engine.batching import ChunkSizer, estimate_row_bytes, model_key
from fastxai.engine.checks import FiniteFlags, rows_per_step_error
from fastxai.engine.forward import call_forward, expand_additional_args, slice_rows
from fastxai.engine.targets import Target, TargetType, select_targets, slice_target  # noqa: F401
from fastxai.engine.hooks import LayerCapture, describe_layer, root_module

# Step builder: (s0, s1) -> (leaves to differentiate, inputs to call forward_func with or None).
StepBuilder = Callable[[int, int], Tuple[Tuple[Tensor, ...], Optional[Tuple[Tensor, ...]]]]


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


def select_row_outputs(output: Tensor, target: TargetType) -> Tensor:
    """Target-selected outputs, one scalar per row (Captum's requirement for gradients)."""
    out = select_targets(output, target)
    if out.dim() > 1 and out[0].numel() != 1:
        raise InputError(
            "Target not provided when necessary, cannot take gradient with respect to multiple "
            f"outputs: the selected model output has shape {tuple(out.shape)}; pass `target`."
        )
    return out


def differentiate(
    out: Tensor, wrt: Tuple[Tensor, ...], what: str = "the inputs",
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[Tensor, ...]:
    """d(sum of ``out``)/d``wrt`` (equal to Captum's ``grad(unbind(out), wrt)``);
    ``grad_kwargs`` go to ``torch.autograd.grad`` (Captum's argument of that name)."""
    if not out.requires_grad:
        raise InputError(
            "forward_func's output does not require grad, so it cannot be differentiated with "
            f"respect to {what}: is the forward wrapped in torch.no_grad(), detaching, or going "
            "through numpy / integer ops?"
        )
    try:
        kwargs = {"allow_unused": True, **(grad_kwargs or {})}
        grads = torch.autograd.grad(out, wrt, torch.ones_like(out), **kwargs)
    except RuntimeError as exc:
        raise InputError(f"backward through forward_func failed for {what}: {exc}") from exc
    missing = [i for i, g in enumerate(grads) if g is None]
    if missing:
        raise InputError(
            f"the selected output does not depend on {what} {missing}: there is no gradient "
            "path (non-differentiable forward, or the tensor is not used)"
        )
    return tuple(grads)  # type: ignore[return-value]


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


@dataclass
class GradientChunk:
    """One processed chunk: steps ``[s0, s1)``; ``grads`` w.r.t. the leaves (or the layer),
    each ((s1 - s0) * N, ...); ``layer`` the captured layer tensors (layer mode), ``outputs``
    the target-selected outputs ((s1 - s0) * N,)."""

    s0: int
    s1: int
    grads: Tuple[Tensor, ...]
    layer: Tuple[Tensor, ...]
    outputs: Tensor
    layer_is_tuple: bool = False


def steps_per_chunk_fixed(internal_batch_size: int, n: int) -> int:
    """Captum's rule: ``internal_batch_size // N`` steps (>= 1; warns when < N)."""
    if internal_batch_size < n:
        warnings.warn(
            "Internal batch size cannot be less than the number of input examples. "
            f"Defaulting to internal batch size of {n} equal to the number of examples.",
            stacklevel=3,
        )
    return max(1, internal_batch_size // n)


def iterate_gradients(
    forward_func: Callable[..., Any],
    build: StepBuilder,
    n_steps: int,
    n_rows: int,
    target: TargetType,
    additional_args: Optional[Tuple[Any, ...]],
    like: Tuple[Tensor, ...],
    internal_batch_size: Optional[int] = None,
    max_batch: Optional[int] = None,
    max_memory: Optional[int] = None,
    layer: Optional[Union[nn.Module, List[nn.Module]]] = None,
    layer_input: bool = False,
    inject: bool = False,
    layer_counts: Optional[Sequence[int]] = None,
    overlap: int = 0,
    min_steps: int = 1,
    mode_tag: str = "grad",
    presliced: bool = False,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Iterator[GradientChunk]:
    """Yield :class:`GradientChunk` s covering steps ``[0, n_steps)`` in order.

    Args:
        build: ``(s0, s1) -> (leaves, forward_inputs)``; leaves are differentiated (they get
            ``requires_grad``); ``forward_inputs`` (None: the leaves) go to ``forward_func``.
        n_rows: N, rows per step.
        like: the per-step inputs (N, ...) used for memory / cache keys.
        layer: differentiate w.r.t. this layer's output (input with ``layer_input``) instead of
            the leaves; with ``inject`` the leaves *replace* that layer's tensors. A list of
            layers is hooked in the same forward; their tensors are concatenated in order, and
            with ``inject`` ``layer_counts`` says how many leaves go to each layer.
        overlap: consecutive chunks share this many steps (LayerConductance's finite differences).
        min_steps: smallest steps per chunk.
        presliced: ``target`` / tensor ``additional_args`` already hold one entry per row of all
            steps (n_steps * N); each chunk takes its rows instead of repeating them.
    """
    check_dropout(forward_func)
    n_rows = max(1, n_rows)
    target = Target.of(target)
    flags = FiniteFlags("step", n_steps)
    sizer: Optional[ChunkSizer] = None
    probe: Optional[SavedBytes] = None
    if internal_batch_size is None and max_batch is not None and max_batch < n_rows:
        # a step's N rows go through one forward + backward; splitting them is not
        # implemented here, so the cap is refused rather than silently exceeded
        raise rows_per_step_error(max_batch, n_rows, "step")

    def make_sizer(row_bytes: int, total: int) -> ChunkSizer:
        sz = ChunkSizer(
            model_key(forward_func, like, mode_tag), total, row_bytes, max_batch=max_batch,
            max_memory=max_memory, granularity=n_rows, device=like[0].device if like else None,
        )
        if sz.cap < n_rows and max_memory is not None:
            raise InputError(
                f"max_memory={max_memory} bytes holds {sz.cap} rows of forward + backward "
                f"(~{row_bytes} bytes each), below the {n_rows} rows one step needs; raise it"
            )
        return sz

    if internal_batch_size is not None:
        steps = max(min_steps, steps_per_chunk_fixed(internal_batch_size, n_rows))
    elif max_memory is not None and n_steps > min_steps:
        # measure what one row really keeps alive for the backward on a first small chunk
        probe = SavedBytes(forward_func)
        steps = min_steps
    else:
        sizer = make_sizer(estimate_row_bytes(like, "backward"), n_steps * n_rows)
        steps = 0
    s0 = 0
    while s0 < n_steps:
        if sizer is not None:
            rows = sizer.next_rows((n_steps - s0) * n_rows)
            steps = max(min_steps, rows // n_rows)
            t0 = sizer.clock()
        s1 = min(n_steps, s0 + steps)
        k = s1 - s0
        with torch.enable_grad():
            leaves, fwd_inputs = build(s0, s1)
            # integer leaves (token ids) only make sense in layer mode: the gradient is taken
            # with respect to the layer, so they are passed through as they are
            leaves = tuple(
                x.detach().requires_grad_(True)
                if layer is None or inject or x.is_floating_point() or x.is_complex() else x.detach()
                for x in leaves
            )
            if fwd_inputs is None:
                fwd_inputs = leaves
            if presliced:
                args = slice_rows(additional_args, s0 * n_rows, s1 * n_rows)
                tgt = target.rows(s0 * n_rows, s1 * n_rows)
            else:
                args = expand_additional_args(additional_args, k)
                tgt = target.expand(k)
            with (probe if probe is not None else contextlib.nullcontext()):
                raw_out = None if layer is not None else call_forward(forward_func, fwd_inputs, args)
            if layer is None:
                out = select_row_outputs(raw_out, tgt)
                grads = differentiate(out, leaves, grad_kwargs=grad_kwargs)
                captured: Tuple[Tensor, ...] = ()
                is_tuple = False
            else:
                layers = layer if isinstance(layer, list) else [layer]
                parts: List[Optional[Tuple[Tensor, ...]]] = [None] * len(layers)
                if inject:
                    counts = list(layer_counts) if layer_counts is not None else [len(leaves)]
                    bounds = [sum(counts[:i]) for i in range(len(counts) + 1)]
                    parts = [leaves[bounds[i]:bounds[i + 1]] for i in range(len(layers))]
                caps = [
                    LayerCapture(forward_func, l, use_input=layer_input, replace=p,
                                 require_grad=not inject)
                    for l, p in zip(layers, parts)
                ]
                with contextlib.ExitStack() as stack:
                    for c in caps:
                        stack.enter_context(c)
                    if probe is not None:
                        stack.enter_context(probe)
                    raw_out = call_forward(forward_func, fwd_inputs, args)
                out = select_row_outputs(raw_out, tgt)
                captured = tuple(t for c in caps for t in c.tensors)
                is_tuple = caps[0].is_tuple
                grads = differentiate(
                    out, captured,
                    "layer " + ", ".join(describe_layer(forward_func, l) for l in layers),
                    grad_kwargs,
                )
        flags.add(out.detach(), s0, s1 - 1)
        yield GradientChunk(s0, s1, grads, tuple(t.detach() for t in captured), out.detach(), is_tuple)
        if sizer is not None:
            sizer.record(k * n_rows, sizer.clock() - t0)
        elif probe is not None:
            leaf_bytes = sum(t.numel() * t.element_size() for t in leaves)
            # peak RSS measured at ~2.5x the saved activations (transient forward buffers and
            # activation gradients come and go); 3x keeps a max_memory cap honest on CPU
            per_row = (3 * probe.nbytes + 3 * leaf_bytes) // max(1, k * n_rows) + 1
            sizer = make_sizer(int(per_row), max(1, (n_steps - s1 + overlap) * n_rows))
            probe = None
        # drop this chunk's tensors before the next forward allocates: its activations then
        # reuse the memory just freed (warm in cache) instead of landing beside live leftovers
        del leaves, fwd_inputs, grads, captured, out, raw_out
        caps = parts = args = tgt = None  # layer mode: the captures hold the layer's tensors
        if s1 >= n_steps:
            break
        s0 = s1 - overlap if overlap and s1 - overlap > s0 else s1
    flags.check()  # NaN / Inf outputs: the same rule (and opt-out) as the perturbation loop


def gradients(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetType,
    additional_args: Optional[Tuple[Any, ...]],
) -> Tuple[Tensor, ...]:
    """Plain input gradients of the target outputs, one forward + one backward."""
    check_float_inputs(inputs)
    (chunk,) = list(
        iterate_gradients(
            forward_func, lambda s0, s1: (inputs, None), 1, inputs[0].shape[0], target,
            additional_args, inputs, internal_batch_size=max(1, inputs[0].shape[0]),
        )
    )
    return chunk.grads


def layer_gradients_and_evals(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    inputs: Tuple[Tensor, ...],
    target: TargetType,
    additional_args: Optional[Tuple[Any, ...]],
    layer_input: bool = False,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...], bool]:
    """Gradients of the target outputs w.r.t. a layer's output (or input), and its values."""
    (chunk,) = list(
        iterate_gradients(
            forward_func, lambda s0, s1: (inputs, None), 1, inputs[0].shape[0], target,
            additional_args, inputs, internal_batch_size=max(1, inputs[0].shape[0]),
            layer=layer, layer_input=layer_input, grad_kwargs=grad_kwargs,
        )
    )
    return chunk.grads, chunk.layer, chunk.layer_is_tuple


def layer_eval(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    inputs: Tuple[Tensor, ...],
    additional_args: Optional[Tuple[Any, ...]],
    layer_input: bool = False,
) -> Tuple[Tuple[Tensor, ...], bool]:
    """A layer's output (input) values for ``inputs`` under ``torch.no_grad``."""
    cap = LayerCapture(forward_func, layer, use_input=layer_input)
    with torch.no_grad(), cap:
        call_forward(forward_func, inputs, additional_args)
    return tuple(t.detach() for t in cap.tensors), cap.is_tuple
