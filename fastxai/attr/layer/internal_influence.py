"""InternalInfluence (Leino et al. 2018): the gradients of the target output with respect to a
layer, integrated along the inputs' straight path from the baselines (Captum 0.9 signature):
the engine's path plan with the :class:`~fastxai.engine.wrt.Layer` strategy."""
from __future__ import annotations

from typing import Any, Dict, Optional

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase, per_layer
from fastxai.engine.gradient import Sizing, check_float_inputs
from fastxai.engine.paths import check_steps, integrate_path
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Layer


class InternalInfluence(LayerGradientBase):
    """sum_s w_s * d output / d layer at b + alpha_s (x - b); (N, ...layer dims)."""

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
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> (N, ...layer dims) (a tuple for a multi-tensor layer)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        check_steps(n_steps, method)
        attrs = integrate_path(
            self.forward_func, call.inputs, call.baselines, call.target, call.additional_args,
            n_steps, method, Sizing(internal_batch_size, max_batch, max_memory),
            Layer(self.layer, attribute_to_layer_input), grad_kwargs=grad_kwargs,
        )
        return per_layer(call, attrs, [len(attrs)], False)
