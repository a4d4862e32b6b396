"""NeuronDeepLift and NeuronDeepLiftShap: DeepLift multipliers of one neuron of a layer with
respect to the inputs (Captum 0.9 signatures): the DeepLift pass of
:mod:`fastxai.attr.gradient._common.deeplift_rules` with the :class:`~fastxai.engine.wrt.Neuron`
strategy."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, NeuronAttribution, log_usage
from fastxai._captum.call import CallRecord, format_result, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.gradient._common.deeplift_rules import (
    call_custom_attribution_func,
    deeplift_pass,
    expand_over_baselines,
    mean_over_baselines,
    require_model,
)
from fastxai.engine.gradient import check_float_inputs
from fastxai.engine.wrt import Neuron, NeuronSelector

EPS = 1e-10  # DeepLift's default, as Captum's neuron forms use it


class _NeuronDeepLiftBase(NeuronAttribution, GradientAttribution):
    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True) -> None:
        require_model(model, type(self).__name__)
        NeuronAttribution.__init__(self, model, layer)
        self.model = model
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    def _neuron_attrs(self, call: CallRecord, wrt: Neuron,
                      custom: Optional[Callable[..., Tuple[Tensor, ...]]]) -> Tuple[Tensor, ...]:
        check_float_inputs(call.inputs)
        bs = tuple(b.expand_as(x) for b, x in zip(call.baselines, call.inputs))
        mult = deeplift_pass(self.model, EPS, call.inputs, bs, None, call.additional_args, wrt).grads
        xs = tuple(x.detach() for x in call.inputs)
        if custom is not None:
            return call_custom_attribution_func(custom, mult, xs, bs)
        if self._multiply_by_inputs:
            return tuple((x - b) * m for x, b, m in zip(xs, bs, mult))
        return mult


class NeuronDeepLift(_NeuronDeepLiftBase):
    """DeepLift (rescale rule) for one neuron; baselines as DeepLift's."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: BaselineType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_neuron_input: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes."""
        call = normalize_call(inputs, baselines=baselines, additional_forward_args=additional_forward_args)
        wrt = Neuron(self.layer, neuron_selector, attribute_to_neuron_input)
        return format_result(call, self._neuron_attrs(call, wrt, custom_attribution_func))


class NeuronDeepLiftShap(_NeuronDeepLiftBase):
    """NeuronDeepLift averaged over a baseline distribution (M >= 2 rows): N*M rows in one pass."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: Any,
        additional_forward_args: Optional[Any] = None,
        attribute_to_neuron_input: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> attributions of the same shapes."""
        call, exp, n, m = expand_over_baselines(inputs, baselines, None, additional_forward_args, "DeepLift")
        wrt = Neuron(self.layer, neuron_selector, attribute_to_neuron_input)
        attrs = self._neuron_attrs(exp, wrt, custom_attribution_func)
        return format_result(call, mean_over_baselines(attrs, n, m))
