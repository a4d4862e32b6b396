"""Perturbing with respect to an internal layer: the layer's activations become the
perturbed "inputs" of a forward that replaces the layer's output (or input) with the
perturbed rows and runs the model on its own inputs, passed after them (Captum's
``layer_forward_func``, :class:`ThroughLayer`); or the model's inputs are perturbed and the
"output" is one neuron of the layer (Captum's ``neuron_forward_func``, :class:`NeuronOutput`)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor, nn

from fastxai.engine.forward import call_forward
from fastxai.engine.hooks import LayerCapture
from fastxai.engine.wrt import NeuronSelector, select_neuron


def layer_activations(
    forward_func: Callable[..., Any], layer: nn.Module, inputs: Tuple[Tensor, ...],
    additional_args: Optional[Tuple[Any, ...]], use_input: bool = False,
) -> Tuple[Tuple[Tensor, ...], bool]:
    """One forward: the layer's output tensors (its input with ``use_input``), each (N, *L),
    detached, and whether the layer produced a tuple."""
    with torch.no_grad(), LayerCapture(forward_func, layer, use_input) as cap:
        call_forward(forward_func, inputs, additional_args)
    return tuple(t.detach() for t in cap.tensors), cap.is_tuple


class ThroughLayer:
    """``forward(*layer_rows, *model_inputs, *additional_args)``: ``forward_func`` on the
    model inputs with the layer's output (input, ``use_input``) replaced by the first
    ``n_layer`` arguments. ``__self__`` is the model behind ``forward_func`` (the preflight
    and the chunk-size cache see the user's model)."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module, n_layer: int,
                 use_input: bool = False) -> None:
        self.forward_func, self.layer, self.n_layer, self.use_input = forward_func, layer, n_layer, use_input
        self.__self__ = getattr(forward_func, "__self__", forward_func)

    def __call__(self, *args: Any) -> Any:
        rows = tuple(args[: self.n_layer])
        with LayerCapture(self.forward_func, self.layer, self.use_input, replace=rows):
            return self.forward_func(*args[self.n_layer:])


class NeuronOutput:
    """``forward(*inputs, *additional_args)`` -> the selected neuron of the layer's output
    (input, ``use_input``) per row (:func:`~fastxai.engine.wrt.select_neuron`, Captum's rules):
    the model runs as usual and the layer is read on the way."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module, selector: NeuronSelector,
                 use_input: bool = False) -> None:
        self.forward_func, self.layer, self.selector, self.use_input = forward_func, layer, selector, use_input
        self.__self__ = getattr(forward_func, "__self__", forward_func)

    def __call__(self, *args: Any) -> Tensor:
        with torch.no_grad(), LayerCapture(self.forward_func, self.layer, self.use_input) as cap:
            self.forward_func(*args)
        return select_neuron(cap.tensors, self.selector)
