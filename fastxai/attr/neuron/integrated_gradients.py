"""NeuronIntegratedGradients and NeuronConductance: path integrals for one neuron of a layer
(Captum 0.9 signatures), the engine's path plan with the :class:`~fastxai.engine.wrt.Neuron`
strategy. NeuronIntegratedGradients integrates d neuron / d input; NeuronConductance
integrates d neuron / d input scaled by d output / d neuron (``via_output``)."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from torch import nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.neuron._common import NeuronGradientBase, warn_callable_selector
from fastxai.engine.gradient import Sizing, check_float_inputs
from fastxai.engine.paths import check_steps, integrate_path
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Neuron, NeuronSelector


class _NeuronPath(NeuronGradientBase):
    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    def _path(self, inputs: TensorOrTuple, baselines: BaselineType, target: TargetType,
              additional_forward_args: Any, n_steps: int, method: str, sizing: Sizing,
              wrt: Neuron, grad_kwargs: Optional[Dict[str, Any]] = None) -> TensorOrTuple:
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        check_steps(n_steps, method)
        total = integrate_path(self.forward_func, call.inputs, call.baselines, call.target,
                               call.additional_args, n_steps, method, sizing, wrt, grad_kwargs=grad_kwargs)
        if self._multiply_by_inputs:
            total = tuple(t * (x.detach() - b) for t, x, b in zip(total, call.inputs, call.baselines))
        return format_result(call, total)


class NeuronIntegratedGradients(_NeuronPath):
    """Integrated gradients of one neuron: (x - b) * sum_s w_s d neuron / d x at the path points."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: BaselineType = None,
        additional_forward_args: Optional[Any] = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes (float32 for float16 /
        bfloat16 inputs, as Captum)."""
        return self._path(inputs, baselines, None, additional_forward_args, n_steps, method,
                          Sizing(internal_batch_size, max_batch, max_memory),
                          Neuron(self.layer, neuron_selector, attribute_to_neuron_input))


class NeuronConductance(_NeuronPath):
    """Conductance of one neuron (Dhamdhere et al. 2018): (x - b) * sum_s w_s
    (d output / d neuron) (d neuron / d x) at the path points."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        n_steps: int = 50,
        method: str = "riemann_trapezoid",
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes."""
        warn_callable_selector(neuron_selector)
        return self._path(inputs, baselines, target, additional_forward_args, n_steps, method,
                          Sizing(internal_batch_size, max_batch, max_memory),
                          Neuron(self.layer, neuron_selector, attribute_to_neuron_input, via_output=True),
                          grad_kwargs)
