"""LayerActivation: a layer's output (input) values (Captum 0.9 signature)."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Union

from torch import nn

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.layer._common import layer_list, layer_values, per_layer


class LayerActivation(LayerAttribution):
    """The layer's output (input) values; a list of layers gives a list of results."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None) -> None:
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
    ) -> Any:
        """inputs (N, ...) -> the layer's tensor(s) (N, ...layer dims)."""
        call = normalize_call(inputs, additional_forward_args=additional_forward_args)
        vals, counts = layer_values(self.forward_func, layer_list(self.layer), call.inputs,
                                    call.additional_args, attribute_to_layer_input)
        return per_layer(call, vals, counts, isinstance(self.layer, list))

    @property
    def multiplies_by_inputs(self) -> bool:
        return True
