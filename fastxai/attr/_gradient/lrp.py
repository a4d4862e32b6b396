"""Layer-wise Relevance Propagation (Bach et al. 2015), Captum 0.9 semantics and rule names.

Relevance is propagated by one backward pass in which every leaf module's backward is replaced
by its rule: for a layer with input ``a`` and (rule-modified) output ``z = layer'(a)``,
``R_in = a * vjp(layer', a, R_out / (z + eps * sign(z)))`` (epsilon / gamma / alpha1-beta0 differ
only in how ``layer'`` modifies the weights); ReLU / Dropout / Tanh pass relevance through;
``IdentityRule`` passes R_out unchanged. The model's parameters are never modified (the
modified weights live only inside the rule), so nothing needs restoring; any ``rule``
attributes set on modules are left as they were.

Rules per module: ``module.rule`` if set (fastxai rules, or Captum rule objects by duck typing),
else ``rules[type(module)]`` given to the constructor (composable per layer type), else the
default (EpsilonRule for Conv2d, Linear, BatchNorm2d, (Adaptive)AvgPool2d, MaxPool1/2/3d and
Captum's ``Addition_Module``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.func import functional_call

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.forward import call_forward
from fastxai._captum.inputs import TensorOrTuple, format_additional_args, format_inputs, format_output
from fastxai._captum.targets import TargetType
from fastxai.engine.gradient import check_dropout, check_float_inputs, differentiate, select_row_outputs
from fastxai.engine.hooks import hooks_paused, override_backward


class PropagationRule:
    """Base rule: ``modify(name, param) -> param`` changes weights, ``eps`` stabilises."""

    STABILITY_FACTOR = 1e-9

    def modify(self, name: str, p: Tensor) -> Tensor:
        return p


class EpsilonRule(PropagationRule):
    """z-rule with stabiliser ``epsilon``."""

    def __init__(self, epsilon: float = 1e-9) -> None:
        self.STABILITY_FACTOR = epsilon


class GammaRule(PropagationRule):
    """Weights w + gamma * max(w, 0); optionally zero bias."""

    def __init__(self, gamma: float = 0.25, set_bias_to_zero: bool = False) -> None:
        self.gamma = gamma
        self.set_bias_to_zero = set_bias_to_zero

    def modify(self, name: str, p: Tensor) -> Tensor:
        if name == "weight":
            return p + self.gamma * p.clamp(min=0)
        if name == "bias" and self.set_bias_to_zero:
            return torch.zeros_like(p)
        return p


class Alpha1_Beta0_Rule(PropagationRule):  # noqa: N801 (Captum's name)
    """Only positive weights (alpha=1, beta=0); optionally zero bias."""

    def __init__(self, set_bias_to_zero: bool = False) -> None:
        self.set_bias_to_zero = set_bias_to_zero

    def modify(self, name: str, p: Tensor) -> Tensor:
        if name == "weight":
            return p.clamp(min=0)
        if name == "bias" and self.set_bias_to_zero:
            return torch.zeros_like(p)
        return p


class IdentityRule(EpsilonRule):
    """Relevance passes unchanged (input relevance = output relevance)."""


RULE_DEFAULTS: Dict[Any, Callable[[], PropagationRule]] = {
    nn.MaxPool1d: EpsilonRule, nn.MaxPool2d: EpsilonRule, nn.MaxPool3d: EpsilonRule,
    nn.Conv2d: EpsilonRule, nn.AvgPool2d: EpsilonRule, nn.AdaptiveAvgPool2d: EpsilonRule,
    nn.Linear: EpsilonRule, nn.BatchNorm2d: EpsilonRule, "Addition_Module": EpsilonRule,
}
PASS_THROUGH = (nn.ReLU, nn.Dropout, nn.Tanh)


def _as_fastxai_rule(rule: Any) -> Optional[PropagationRule]:
    """fastxai rules as they are; Captum rule objects translated by class name."""
    if rule is None or isinstance(rule, PropagationRule):
        return rule
    name = type(rule).__name__
    eps = getattr(rule, "STABILITY_FACTOR", 1e-9)
    if name == "EpsilonRule":
        return EpsilonRule(eps)
    if name == "IdentityRule":
        return IdentityRule(eps)
    if name == "GammaRule":
        return GammaRule(rule.gamma, rule.set_bias_to_zero)
    if name == "Alpha1_Beta0_Rule":
        return Alpha1_Beta0_Rule(rule.set_bias_to_zero)
    raise TypeError(f"Please select propagation rules inherited from class PropagationRule for rule {rule!r}")


def _leaves(model: nn.Module) -> list:
    out = []
    for child in model.children():
        if len(list(child.children())) == 0:
            out.append(child)
        else:
            out.extend(_leaves(child))
    return out


def _make_rule(module: nn.Module, rule: PropagationRule) -> Callable[..., Any]:
    def factory(m: nn.Module, x: Any, y: Tensor) -> Callable[[Tensor, Tensor], Any]:
        xs = x if isinstance(x, tuple) else (x,)
        params = {n: rule.modify(n, p.detach()) for n, p in m.named_parameters(recurse=False)}

        def backward(g: Tensor, plain: Tensor) -> Any:
            if isinstance(rule, IdentityRule):
                res = tuple(g for _ in xs)
            else:
                with torch.enable_grad(), hooks_paused():
                    xr = tuple(t.detach().requires_grad_(True) for t in xs)
                    z = functional_call(m, params, xr) if params else m.forward(*xr)
                    zd = z.detach()
                    sign = torch.sign(zd)
                    sign[sign == 0] = 1
                    gs = torch.autograd.grad(z, xr, g / (zd + sign * rule.STABILITY_FACTOR))
                res = tuple(gi * t for gi, t in zip(gs, xs))
            return res if len(res) > 1 else res[0]

        return backward

    return factory


class LRP(GradientAttribution):
    """LRP with per-module rules; ``rules={nn.Conv2d: GammaRule(), ...}`` sets defaults per type."""

    def __init__(self, model: nn.Module, rules: Optional[Dict[type, PropagationRule]] = None) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"LRP needs an nn.Module model, got {type(model).__name__}")
        super().__init__(model)
        self.model = model
        self.rules = dict(rules or {})
        for m in model.modules():
            if hasattr(m, "rule"):
                _as_fastxai_rule(m.rule)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def has_convergence_delta(self) -> bool:
        return True

    def _rule_for(self, layer: nn.Module) -> Optional[PropagationRule]:
        if hasattr(layer, "rule"):
            return _as_fastxai_rule(layer.rule)
        if type(layer) in self.rules:
            return _as_fastxai_rule(self.rules[type(layer)])
        if type(layer) in RULE_DEFAULTS:
            return RULE_DEFAULTS[type(layer)]()
        if type(layer).__name__ in RULE_DEFAULTS:
            return RULE_DEFAULTS[type(layer).__name__]()
        if type(layer) in PASS_THROUGH:
            return None
        raise TypeError(
            f"Module of type {type(layer)} has no rule defined and no default rule exists for this "
            "module type. Please, set a rule explicitly for this module and assure that it is "
            "appropriate for this type of layer."
        )

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
        tup, is_tuple = format_inputs(inputs)
        check_float_inputs(tup)
        check_dropout(self.model)
        layers = _leaves(self.model)
        rules = {id(l): self._rule_for(l) for l in layers}
        with_rule = [l for l in layers if rules[id(l)] is not None]
        passing = [l for l in layers if rules[id(l)] is None]
        if verbose:
            for l in with_rule:
                print(f"Applied {rules[id(l)]} on layer {l}")
        calls: Dict[int, int] = {}

        def factory(m: nn.Module, x: Any, y: Tensor) -> Callable[[Tensor, Tensor], Any]:
            calls[id(m)] = calls.get(id(m), 0) + 1
            if calls[id(m)] > 1:
                raise RuntimeError(
                    f"Module {m} is being used more than once in the network, which is not "
                    "supported by LRP. Please ensure that module is being used only once in the network."
                )
            r = rules[id(m)]
            if r is None:
                return lambda g, plain: g if not isinstance(x, tuple) else tuple(g for _ in x)
            return _make_rule(m, r)(m, x, y)

        args = format_additional_args(additional_forward_args)
        with torch.enable_grad(), override_backward(with_rule + passing, factory):
            leaves = tuple(t.detach().requires_grad_(True) for t in tup)
            out = select_row_outputs(call_forward(self.model, tuple(l + 0 for l in leaves), args), target)
            grads = differentiate(out, leaves)
        output = out.detach()
        rel = tuple(g * output.reshape((-1,) + (1,) * (g.dim() - 1)) for g in grads)
        res = format_output(is_tuple, rel)
        if return_convergence_delta:
            return res, self.compute_convergence_delta(rel, output)
        return res

    def compute_convergence_delta(self, attributions: Any, output: Tensor) -> Tensor:  # type: ignore[override]
        """output (N,) minus the summed relevance of each example."""
        attrs = attributions if isinstance(attributions, tuple) else (attributions,)
        summed = sum(a.reshape(a.shape[0], -1).sum(1) for a in attrs)
        return output.flatten() - summed.flatten()
