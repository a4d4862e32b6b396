"""LRP's propagation rules (Captum 0.9 names) and the relevance pass shared by LRP and
LayerLRP.

Relevance is propagated by one backward pass in which every leaf module's backward is replaced
by its rule: for a layer with input ``a`` and (rule-modified) output ``z = layer'(a)``,
``R_in = a * vjp(layer', a, R_out / (z + eps * sign(z)))`` (epsilon / gamma / alpha1-beta0 differ
only in how ``layer'`` modifies the weights); ReLU / Dropout / Tanh pass relevance through;
``IdentityRule`` passes R_out unchanged. The model's parameters are never modified.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

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


def as_fastxai_rule(rule: Any) -> Optional[PropagationRule]:
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


def leaves(model: nn.Module) -> List[nn.Module]:
    """The model's leaf modules, depth first."""
    out = []
    for child in model.children():
        if len(list(child.children())) == 0:
            out.append(child)
        else:
            out.extend(leaves(child))
    return out


def make_rule(module: nn.Module, rule: PropagationRule) -> Callable[..., Any]:
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


def rule_for(layer: nn.Module, rules: Dict[type, Any]) -> Optional[PropagationRule]:
    """``layer.rule`` if set, else ``rules[type(layer)]``, else the default (None: passes
    relevance through); raises Captum's TypeError for a module without a rule."""
    if hasattr(layer, "rule"):
        return as_fastxai_rule(layer.rule)
    if type(layer) in rules:
        return as_fastxai_rule(rules[type(layer)])
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


def relevance_rules(model: nn.Module, rules: Dict[type, Any], verbose: bool = False) -> Any:
    """A context manager replacing every leaf module's backward by its LRP rule (each module
    may run once per forward, as Captum requires)."""
    layers = leaves(model)
    chosen = {id(l): rule_for(l, rules) for l in layers}
    if verbose:
        for l in layers:
            if chosen[id(l)] is not None:
                print(f"Applied {chosen[id(l)]} on layer {l}")
    calls: Dict[int, int] = {}

    def factory(m: nn.Module, x: Any, y: Tensor) -> Callable[[Tensor, Tensor], Any]:
        calls[id(m)] = calls.get(id(m), 0) + 1
        if calls[id(m)] > 1:
            raise RuntimeError(
                f"Module {m} is being used more than once in the network, which is not "
                "supported by LRP. Please ensure that module is being used only once in the network."
            )
        r = chosen[id(m)]
        if r is None:
            return lambda g, plain: g if not isinstance(x, tuple) else tuple(g for _ in x)
        return make_rule(m, r)(m, x, y)

    ordered = [l for l in layers if chosen[id(l)] is not None] + [l for l in layers if chosen[id(l)] is None]
    return override_backward(ordered, factory)
