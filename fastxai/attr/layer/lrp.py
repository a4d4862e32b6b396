"""LayerLRP (Captum 0.9 signature and class tree: an LRP and a LayerAttribution): the relevance
arriving at a layer's output (input) in LRP's backward pass -- one backward under the rules of
:mod:`fastxai.attr.gradient._common.lrp_rules` with the :class:`~fastxai.engine.wrt.Layer`
strategy, relevance = gradient * output. A list of layers gives a list of results (and deltas)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from torch import Tensor, nn

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.gradient._common.lrp_rules import relevance_rules
from fastxai.attr.gradient.lrp import LRP  # Captum's parent
from fastxai.attr.layer._common import layer_list, per_layer
from fastxai.engine.gradient import single_pass
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Layer


class LayerLRP(LRP, LayerAttribution):
    """Layer-wise relevance at ``layer`` (a module or a list of modules)."""

    def __init__(self, model: nn.Module, layer: Union[nn.Module, List[nn.Module]],
                 rules: Optional[Dict[type, Any]] = None) -> None:
        LRP.__init__(self, model, rules)
        self.layer = layer  # type: ignore[assignment]
        self.device_ids = None

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        verbose: bool = False,
    ) -> Any:
        """inputs (N, ...) -> (N, ...layer dims) per layer (a tuple for multi-tensor layers, a
        list for a list of layers); delta (N,) per layer."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        layers = layer_list(self.layer)
        with relevance_rules(self.model, self.rules, verbose):
            ch = single_pass(self.model, call.inputs, call.target, call.additional_args,
                             Layer(layers, attribute_to_layer_input),
                             forward_inputs=lambda ls: tuple(l + 0 for l in ls))
        output = ch.outputs
        rel = tuple(g * output.reshape((-1,) + (1,) * (g.dim() - 1)) for g in ch.grads)
        as_list = isinstance(self.layer, list)
        res = per_layer(call, rel, list(ch.layer_counts), as_list)
        if not return_convergence_delta:
            return res
        per: List[Any] = res if as_list else [res]
        deltas: List[Tensor] = [self.compute_convergence_delta(r, output) for r in per]
        return res, (deltas if as_list else deltas[0])
