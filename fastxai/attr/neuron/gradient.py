"""NeuronGradient, NeuronGuidedBackprop, NeuronDeconvolution: the gradient of one neuron of a
layer with respect to the inputs (plain, or with the modified-ReLU backward rules), one
forward + one backward (:class:`~fastxai.engine.wrt.Neuron`)."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional

from torch import nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.gradient._common.relu_rules import modified_relu, require_module
from fastxai.attr.neuron._common import NeuronGradientBase
from fastxai.engine.gradient import check_float_inputs, single_pass
from fastxai.engine.wrt import Neuron, NeuronSelector


class NeuronGradient(NeuronGradientBase):
    """d neuron / d inputs; ``neuron_selector`` an int, a tuple of ints / slices (slices
    summed) or a callable on the layer's tensor(s) returning (N,)."""

    _rule: Optional[str] = None

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        additional_forward_args: Optional[Any] = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> gradients of the same shapes."""
        call = normalize_call(inputs, additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        rules = (modified_relu(self.forward_func, self._rule) if self._rule  # type: ignore[arg-type]
                 else contextlib.nullcontext())
        with rules:
            ch = single_pass(self.forward_func, call.inputs, None, call.additional_args,
                             Neuron(self.layer, neuron_selector, attribute_to_neuron_input))
        return format_result(call, ch.grads)


class _NeuronModifiedRelu(NeuronGradientBase):
    _rule = "guided"

    def __init__(self, model: nn.Module, layer: nn.Module, device_ids: Optional[list] = None) -> None:
        require_module(model, type(self).__name__)
        super().__init__(model, layer, device_ids)

    attribute: Callable[..., Any] = NeuronGradient.attribute


class NeuronGuidedBackprop(_NeuronModifiedRelu):
    """The neuron's input gradients with GuidedBackprop's ReLU rule."""

    _rule = "guided"


class NeuronDeconvolution(_NeuronModifiedRelu):
    """The neuron's input gradients with Deconvolution's ReLU rule."""

    _rule = "deconv"
