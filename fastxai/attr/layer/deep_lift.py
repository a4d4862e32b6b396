"""LayerDeepLift and LayerDeepLiftShap (Captum 0.9 signatures and class tree: a LayerDeepLift
is a LayerAttribution and a DeepLift; a LayerDeepLiftShap a LayerDeepLift and a DeepLiftShap).
One forward over cat([inputs, baselines]) under DeepLift's rules with the
:class:`~fastxai.engine.wrt.Layer` strategy: the layer's multipliers are the first half of
its gradients, its values at the inputs / baselines the two halves of its values."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import CallRecord, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.gradient._common.deeplift_rules import (
    call_custom_attribution_func,
    deeplift_pass,
    expand_over_baselines,
    mean_over_baselines,
)
from fastxai.attr.gradient.deep_lift import DeepLift, DeepLiftShap  # Captum's parents
from fastxai.attr.layer._common import per_layer
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Layer


class LayerDeepLift(LayerAttribution, DeepLift):
    """DeepLift attributions of the layer's output (input): (A(x) - A(b)) * multipliers."""

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True) -> None:
        DeepLift.__init__(self, model, multiply_by_inputs)
        self.layer = layer
        self.device_ids = None

    def _layer_attribute(self, call: CallRecord, return_convergence_delta: bool, to_input: bool,
                         custom: Optional[Callable[..., Tuple[Tensor, ...]]],
                         grad_kwargs: Optional[Dict[str, Any]] = None) -> Any:
        bs = tuple(b.expand_as(x) for b, x in zip(call.baselines, call.inputs))
        ch = deeplift_pass(self.model, self.eps, call.inputs, bs, call.target, call.additional_args,
                           Layer(self.layer, to_input), grad_kwargs, exclude=self.layer)
        grads = tuple(g.chunk(2)[0] for g in ch.grads)
        at_x = tuple(v.chunk(2)[0] for v in ch.layer)
        at_b = tuple(v.chunk(2)[1] for v in ch.layer)
        if custom is not None:
            attrs = call_custom_attribution_func(custom, grads, at_x, at_b)
        elif self.multiplies_by_inputs:
            attrs = tuple((x - b) * g for x, b, g in zip(at_x, at_b, grads))
        else:
            attrs = grads
        out = per_layer(call, attrs, [len(attrs)], False)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bs, call.inputs, call.target.raw,
                                                       call.additional_args)
        return out

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> (N, ...layer dims) (a tuple for a multi-tensor layer); delta (N,)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        return self._layer_attribute(call, return_convergence_delta, attribute_to_layer_input,
                                     custom_attribution_func, grad_kwargs)


class LayerDeepLiftShap(LayerDeepLift, DeepLiftShap):
    """LayerDeepLift averaged over a baseline distribution (M >= 2 rows): N*M rows in one pass."""

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True) -> None:
        LayerDeepLift.__init__(self, model, layer, multiply_by_inputs)

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        baselines: Any,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> (N, ...layer dims); delta (N * M,)."""
        call, exp, n, m = expand_over_baselines(inputs, baselines, target, additional_forward_args,
                                                "LayerDeepLift")
        res = self._layer_attribute(exp, return_convergence_delta, attribute_to_layer_input,
                                    custom_attribution_func)
        delta = None
        if return_convergence_delta:
            res, delta = res
        res_t = res if isinstance(res, tuple) else (res,)
        attrs = mean_over_baselines(res_t, n, m)
        out = per_layer(call, attrs, [len(attrs)], False)
        return (out, delta) if return_convergence_delta else out
