"""DeepLift (Shrikumar et al. 2017, rescale rule) and DeepLiftShap, Captum 0.9 semantics.

One forward over cat([inputs, baselines]) and one backward under DeepLift's rules
(:mod:`fastxai.attr.gradient._common.deeplift_rules`). DeepLiftShap is a DeepLift (as in
Captum) averaged over a baseline distribution: N*M rows in one pass.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, log_usage
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
from fastxai.engine.targets import TargetType


class DeepLift(GradientAttribution):
    """DeepLift rescale rule; ``model`` must be an nn.Module whose nonlinearities are modules
    (each used once per forward)."""

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True, eps: float = 1e-10) -> None:
        require_model(model, type(self).__name__)
        GradientAttribution.__init__(self, model)  # explicit: layer subclasses
        self.model = model
        self.eps = eps
        self._multiply_by_inputs = multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    def _attribute(self, call: CallRecord, return_convergence_delta: bool,
                   custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]]) -> Any:
        check_float_inputs(call.inputs)
        bs = tuple(b.expand_as(x) for b, x in zip(call.baselines, call.inputs))
        mult = deeplift_pass(self.model, self.eps, call.inputs, bs, call.target, call.additional_args).grads
        xs = tuple(x.detach() for x in call.inputs)
        if custom_attribution_func is not None:
            attrs = call_custom_attribution_func(custom_attribution_func, mult, xs, bs)
        elif self._multiply_by_inputs:
            attrs = tuple((x - b) * m for x, b, m in zip(xs, bs, mult))
        else:
            attrs = mult
        out = format_result(call, attrs)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bs, xs, call.target.raw, call.additional_args)
        return out

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) or a tuple -> attributions of the same shapes; delta (N,)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        return self._attribute(call, return_convergence_delta, custom_attribution_func)


class DeepLiftShap(DeepLift):
    """DeepLift averaged over a baseline distribution (M >= 2 rows): N*M rows in one pass."""

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, multiply_by_inputs)

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        baselines: Any,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Optional[Callable[..., Tuple[Tensor, ...]]] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> attributions of the same shapes; delta (N * M,)."""
        call, exp, n, m = expand_over_baselines(inputs, baselines, target, additional_forward_args, "DeepLift")
        res = self._attribute(exp, return_convergence_delta, custom_attribution_func)
        if return_convergence_delta:
            res, delta = res
        out = format_result(call, mean_over_baselines(res, n, m))
        return (out, delta) if return_convergence_delta else out
