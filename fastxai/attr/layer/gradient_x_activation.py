"""LayerGradientXActivation: layer activation * d output / d activation (Captum 0.9)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from torch import nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase, layer_list, per_layer
from fastxai.engine.gradient import layer_gradients_and_evals
from fastxai.engine.targets import TargetType


class LayerGradientXActivation(LayerGradientBase):
    """layer activation * d output / d activation (gradient only if not multiply_by_inputs).
    A list of layers gives a list of results, one per layer, as in Captum."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> (N, ...layer dims), a tuple for multi-tensor layers (a list of
        those for a list of layers)."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        attrs, counts = [], []
        for layer in layer_list(self.layer):
            # the gradient w.r.t. one layer does not depend on the others being captured
            grads, evals, _ = layer_gradients_and_evals(
                self.forward_func, layer, call.inputs, call.target, call.additional_args,
                attribute_to_layer_input, grad_kwargs,
            )
            attrs += [g * e for g, e in zip(grads, evals)] if self._multiply_by_inputs else list(grads)
            counts.append(len(grads))
        return per_layer(call, attrs, counts, isinstance(self.layer, list))
