"""Layer-wise Relevance Propagation (Bach et al. 2015), Captum 0.9 semantics and rule names.

One backward under the propagation rules of
:mod:`fastxai.attr.gradient._common.lrp_rules`, relevance = gradient * output.

Rules per module: ``module.rule`` if set (fastxai rules, or Captum rule objects by duck typing),
else ``rules[type(module)]`` given to the constructor (composable per layer type), else the
default (EpsilonRule for Conv2d, Linear, BatchNorm2d, (Adaptive)AvgPool2d, MaxPool1/2/3d and
Captum's ``Addition_Module``). Any ``rule`` attributes set on modules are left as they were.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.gradient._common.lrp_rules import PropagationRule, as_fastxai_rule, relevance_rules
from fastxai.engine.gradient import check_float_inputs, single_pass
from fastxai.engine.targets import TargetType


class LRP(GradientAttribution):
    """LRP with per-module rules; ``rules={nn.Conv2d: GammaRule(), ...}`` sets defaults per type."""

    def __init__(self, model: nn.Module, rules: Optional[Dict[type, PropagationRule]] = None) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"LRP needs an nn.Module model, got {type(model).__name__}")
        GradientAttribution.__init__(self, model)  # explicit: layer subclasses
        self.model = model
        self.rules = dict(rules or {})
        for m in model.modules():
            if hasattr(m, "rule"):
                as_fastxai_rule(m.rule)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def has_convergence_delta(self) -> bool:
        return True

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        verbose: bool = False,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) -> relevances of the same shapes; delta (N,) = output - sum(R)."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        with relevance_rules(self.model, self.rules, verbose):
            ch = single_pass(self.model, call.inputs, call.target, call.additional_args,
                             forward_inputs=lambda ls: tuple(l + 0 for l in ls))
        output = ch.outputs
        rel = tuple(g * output.reshape((-1,) + (1,) * (g.dim() - 1)) for g in ch.grads)
        res = format_result(call, rel)
        if return_convergence_delta:
            return res, self.compute_convergence_delta(rel, output)
        return res

    def compute_convergence_delta(self, attributions: Any, output: Tensor) -> Tensor:  # type: ignore[override]
        """output (N,) minus the summed relevance of each example."""
        attrs = attributions if isinstance(attributions, tuple) else (attributions,)
        summed = sum(a.reshape(a.shape[0], -1).sum(1) for a in attrs)
        return output.flatten() - summed.flatten()
