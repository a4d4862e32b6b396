"""LayerIntegratedGradients: integrated gradients of a layer's output (input) between its
values at the baselines and at the inputs; the path points replace the layer's tensors on
each step (the engine's path plan with :class:`~fastxai.engine.wrt.ReplaceLayer`)."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List, Optional, Union

from torch import nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase, layer_list, layer_values, per_layer
from fastxai.engine.gradient import Sizing
from fastxai.engine.paths import check_steps, integrate_path
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import ReplaceLayer


class LayerIntegratedGradients(LayerGradientBase):
    """With a list of layers (as in Captum) all of them are interpolated and replaced in the
    same forward, and the result is a list with one entry per layer."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        if isinstance(layer, list):
            if not layer:
                raise InputError("layer: an empty list of layers was given")
            if len(layer) > 1:
                warnings.warn(
                    "Multiple layers provided. Please ensure that each layer is **not** solely "
                    "dependent on the outputs of another layer.",
                    stacklevel=2,
                )
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]
        self._multiply_by_inputs = multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """inputs (N, ...) -> (N, ...layer dims) (a tuple for multi-tensor layers, a list of
        those for a list of layers); delta (N,)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        bl = tuple(b.expand_as(x) for b, x in zip(call.baselines, call.inputs))
        check_steps(n_steps, method)
        layers = layer_list(self.layer)
        args = call.additional_args
        x_layer, counts = layer_values(self.forward_func, layers, call.inputs, args, attribute_to_layer_input)
        b_layer, _ = layer_values(self.forward_func, layers, bl, args, attribute_to_layer_input)
        total = integrate_path(
            self.forward_func, x_layer, b_layer, call.target, args, n_steps, method,
            Sizing(internal_batch_size, max_batch, max_memory),
            ReplaceLayer(layers, attribute_to_layer_input, counts),
            model_inputs=tuple(t.detach() for t in call.inputs), grad_kwargs=grad_kwargs,
        )
        if self._multiply_by_inputs:
            attrs = tuple(t * (x - b) for t, x, b in zip(total, x_layer, b_layer))
        else:
            attrs = total
        out = per_layer(call, attrs, counts, isinstance(self.layer, list))
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bl, call.inputs, target, additional_forward_args)
        return out
