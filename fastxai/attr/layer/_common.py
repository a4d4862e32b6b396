"""Shared layer-family pieces: the constructor of layer methods that differentiate
(``LayerAttribution`` + ``GradientAttribution``, as Captum's Layer* gradient classes), per-layer
result forms, and layer values at the inputs and the baselines."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, LayerAttribution
from fastxai._captum.call import CallRecord, format_result
from fastxai.engine.gradient import layer_eval


class LayerGradientBase(LayerAttribution, GradientAttribution):
    """``(forward_func, layer, device_ids=None)``: a layer method that differentiates."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)


def layer_list(layer: Union[nn.Module, List[nn.Module]]) -> List[nn.Module]:
    """``layer`` as a list (a list of layers stays itself)."""
    return layer if isinstance(layer, list) else [layer]


def per_layer(call: CallRecord, attrs: Sequence[Tensor], counts: Sequence[int], as_list: bool) -> Any:
    """Layer results in Captum's forms: per layer a tensor (a tuple for multi-tensor layers);
    a list of those when the method was given a list of layers."""
    bounds = [sum(counts[:i]) for i in range(len(counts) + 1)]
    res = [format_result(call.replace(is_tuple=counts[i] > 1), attrs[bounds[i]:bounds[i + 1]])
           for i in range(len(counts))]
    return res if as_list else res[0]


def layer_values(forward_func: Callable[..., Any], layers: Sequence[nn.Module], inputs: Tuple[Tensor, ...],
                 args: Optional[Tuple[Any, ...]], layer_input: bool) -> Tuple[Tuple[Tensor, ...], List[int]]:
    """The layers' tensors for ``inputs`` (concatenated in layer order) and how many each has."""
    evals = [layer_eval(forward_func, l, inputs, args, layer_input)[0] for l in layers]
    return tuple(t for e in evals for t in e), [len(e) for e in evals]


