""""With respect to" strategies for the gradient loop: what is differentiated, and which
scalar per row.

* :class:`Inputs` -- d(target output) / d(leaves) (Saliency, IG, GradientShap, DeepLift, ...).
* :class:`Layer` -- d(target output) / d(a layer's output, or its input with ``use_input``);
  the layer's values come back too (LayerGradCam, LayerConductance, InternalInfluence, ...).
  A list of layers is hooked in the same forward, tensors concatenated in order.
* :class:`ReplaceLayer` -- the leaves *replace* the layer's tensors (a path through a layer,
  LayerIntegratedGradients); ``counts[i]`` leaves go to the i-th layer of a list.
* :class:`Neuron` -- d(one neuron of a layer) / d(leaves): the scalar per row is the neuron's
  value instead of the model's target output (the Neuron* family).

A strategy's :meth:`run` does the forward (hooks installed and removed) and the backward of
one chunk and returns a :class:`Differentiated`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError
from fastxai.engine.forward import call_forward
from fastxai.engine.hooks import LayerCapture, describe_layer
from fastxai.engine.targets import TargetType, select_targets

Tensors = Tuple[Tensor, ...]


@dataclass
class Differentiated:
    """One chunk's result: ``out`` the differentiated scalar per row (rows,), ``grads``
    w.r.t. the strategy's tensors, ``layer`` the layer's values (layer strategies),
    ``layer_is_tuple`` whether the (first) layer produced a tuple, ``layer_counts`` how many
    of ``layer`` each hooked layer holds (in layer order)."""

    out: Tensor
    grads: Tensors
    layer: Tensors = ()
    layer_is_tuple: bool = False
    layer_counts: Tuple[int, ...] = ()


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
    out: Tensor, wrt: Tensors, what: str = "the inputs", grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tensors:
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
        # Differentiate the scalar sum (its gradient is the same ones) rather than pass
        # grad_outputs=ones_like(out): an explicit grad_outputs makes torch.autograd import
        # torch.fx.experimental.symbolic_shapes -> sympy on first use (0.5-3 s on a process's
        # first gradient call; Captum passes none and never pays it). Issue 16.
        grads = torch.autograd.grad(out.sum(), wrt, **kwargs)
    except RuntimeError as exc:
        raise InputError(f"backward through forward_func failed for {what}: {exc}") from exc
    missing = [i for i, g in enumerate(grads) if g is None]
    if missing:
        raise InputError(
            f"the selected output does not depend on {what} {missing}: there is no gradient "
            "path (non-differentiable forward, or the tensor is not used)"
        )
    return tuple(grads)  # type: ignore[return-value]


def _forward(forward_func: Callable[..., Any], inputs: Tensors, args: Optional[Tuple[Any, ...]],
             hooks: Sequence[Any], probe: Any) -> Tensor:
    with contextlib.ExitStack() as stack:
        for h in hooks:
            stack.enter_context(h)
        if probe is not None:
            stack.enter_context(probe)
        return call_forward(forward_func, inputs, args)


class Inputs:
    """Differentiate w.r.t. the step's leaves (the model inputs, or points on a path)."""

    def prepare(self, leaves: Tensors) -> Tensors:
        """The leaves as differentiable tensors."""
        return tuple(x.detach().requires_grad_(True) for x in leaves)

    def run(self, forward_func: Callable[..., Any], leaves: Tensors, inputs: Tensors,
            args: Optional[Tuple[Any, ...]], target: TargetType,
            grad_kwargs: Optional[Dict[str, Any]] = None, probe: Any = None) -> Differentiated:
        """One forward + backward (see :class:`Differentiated`)."""
        out = select_row_outputs(_forward(forward_func, inputs, args, (), probe), target)
        return Differentiated(out, differentiate(out, leaves, grad_kwargs=grad_kwargs))


def _layers(layer: Union[nn.Module, Sequence[nn.Module]]) -> List[nn.Module]:
    return list(layer) if isinstance(layer, (list, tuple)) else [layer]


class Layer:
    """Differentiate w.r.t. a layer's output (``use_input``: its input); a list of layers is
    captured in the same forward. Integer leaves (token ids into an embedding) pass as they are."""

    def __init__(self, layer: Union[nn.Module, Sequence[nn.Module]], use_input: bool = False) -> None:
        self.layers = _layers(layer)
        self.use_input = use_input

    def prepare(self, leaves: Tensors) -> Tensors:
        return tuple(x.detach().requires_grad_(True) if x.is_floating_point() or x.is_complex()
                     else x.detach() for x in leaves)

    def describe(self, forward_func: Callable[..., Any]) -> str:
        return "layer " + ", ".join(describe_layer(forward_func, l) for l in self.layers)

    def run(self, forward_func: Callable[..., Any], leaves: Tensors, inputs: Tensors,
            args: Optional[Tuple[Any, ...]], target: TargetType,
            grad_kwargs: Optional[Dict[str, Any]] = None, probe: Any = None) -> Differentiated:
        caps = [LayerCapture(forward_func, l, use_input=self.use_input, require_grad=True)
                for l in self.layers]
        out = select_row_outputs(_forward(forward_func, inputs, args, caps, probe), target)
        captured = tuple(t for c in caps for t in c.tensors)
        grads = differentiate(out, captured, self.describe(forward_func), grad_kwargs)
        return Differentiated(out, grads, tuple(t.detach() for t in captured), caps[0].is_tuple,
                              tuple(len(c.tensors) for c in caps))


class ReplaceLayer(Layer):
    """The leaves replace the layer's output (input) tensors on every call and are
    differentiated; with a list of layers ``counts[i]`` consecutive leaves go to layer i."""

    def __init__(self, layer: Union[nn.Module, Sequence[nn.Module]], use_input: bool = False,
                 counts: Optional[Sequence[int]] = None) -> None:
        super().__init__(layer, use_input)
        self.counts = list(counts) if counts is not None else None

    def prepare(self, leaves: Tensors) -> Tensors:
        return tuple(x.detach().requires_grad_(True) for x in leaves)

    def run(self, forward_func: Callable[..., Any], leaves: Tensors, inputs: Tensors,
            args: Optional[Tuple[Any, ...]], target: TargetType,
            grad_kwargs: Optional[Dict[str, Any]] = None, probe: Any = None) -> Differentiated:
        counts = self.counts or [len(leaves)]
        bounds = [sum(counts[:i]) for i in range(len(counts) + 1)]
        caps = [LayerCapture(forward_func, l, use_input=self.use_input,
                             replace=leaves[bounds[i]:bounds[i + 1]])
                for i, l in enumerate(self.layers)]
        out = select_row_outputs(_forward(forward_func, inputs, args, caps, probe), target)
        grads = differentiate(out, leaves, self.describe(forward_func), grad_kwargs)
        return Differentiated(out, grads, tuple(l.detach() for l in leaves), caps[0].is_tuple)


NeuronSelector = Union[int, Tuple[Any, ...], Callable[..., Tensor]]


def select_neuron(tensors: Tensors, selector: NeuronSelector) -> Tensor:
    """The selected neuron(s) from a layer's tensors (each (rows, ...)), Captum's rules: an int
    or a tuple of ints / slices indexes the (single) tensor past dim 0 (fewer indices than dims
    only where one value per example remains, e.g. (N, C, 1, 1); with a slice the selection is
    summed per row); a callable gets the layer tensor(s) and its result is used as it is (its
    sum is what gets differentiated)."""
    if callable(selector):
        return selector(tensors if len(tensors) > 1 else tensors[0])
    if len(tensors) != 1:
        raise InputError("neuron_selector: a layer with several tensors needs a callable selector")
    t = tensors[0]
    sel = selector if isinstance(selector, tuple) else (selector,)
    if len(sel) > t.dim() - 1:
        raise InputError(
            f"neuron_selector {selector!r} has {len(sel)} indices but the layer tensor "
            f"{tuple(t.shape)} has {t.dim() - 1} dims after the batch")
    val = t[(slice(None),) + sel]
    if any(isinstance(i, slice) for i in sel):
        return val.reshape(val.shape[0], -1).sum(dim=1)
    if val.dim() > 1 and val[0].numel() != 1:
        raise InputError(
            f"neuron_selector {selector!r} selects {val[0].numel()} values per example from the "
            f"layer tensor {tuple(t.shape)}: give one index per dim after the batch (or slices, "
            "which are summed, or a callable)")
    return val


class Neuron:
    """Differentiate one neuron of a layer's output (input with ``use_input``) w.r.t. the
    leaves. With ``via_output`` (NeuronConductance) the neuron's input gradients are scaled by
    the target output's gradient at that neuron, and the differentiated output is the target's."""

    def __init__(self, layer: nn.Module, selector: NeuronSelector, use_input: bool = False,
                 via_output: bool = False) -> None:
        self.layer = layer
        self.selector = selector
        self.use_input = use_input
        self.via_output = via_output

    def prepare(self, leaves: Tensors) -> Tensors:
        return tuple(x.detach().requires_grad_(True) for x in leaves)

    def run(self, forward_func: Callable[..., Any], leaves: Tensors, inputs: Tensors,
            args: Optional[Tuple[Any, ...]], target: TargetType,
            grad_kwargs: Optional[Dict[str, Any]] = None, probe: Any = None) -> Differentiated:
        cap = LayerCapture(forward_func, self.layer, use_input=self.use_input)
        raw = _forward(forward_func, inputs, args, [cap], probe)
        where = describe_layer(forward_func, self.layer)
        neuron = select_neuron(cap.tensors, self.selector)
        if not self.via_output:
            grads = differentiate(neuron, leaves, f"the inputs (neuron of layer {where})", grad_kwargs)
            return Differentiated(neuron, grads, tuple(t.detach() for t in cap.tensors), cap.is_tuple)
        out = select_row_outputs(raw, target)
        keep = {**(grad_kwargs or {}), "retain_graph": True}
        mid = select_neuron(differentiate(out, cap.tensors, f"layer {where}", keep), self.selector)
        grads = differentiate(neuron, leaves, f"the inputs (neuron of layer {where})", grad_kwargs)
        scaled = tuple(g * mid.reshape((-1,) + (1,) * (g.dim() - 1)) for g in grads)
        return Differentiated(out, scaled, tuple(t.detach() for t in cap.tensors), cap.is_tuple)
