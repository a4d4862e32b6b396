"""Module hooks with explicit release: capturing / replacing a layer's tensors, and overriding a
module's backward rule (guided backprop, deconvolution, DeepLift, LRP).

Everything here is a context manager that removes its hooks (and restores any state) on exit,
even when the forward raises.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError


def root_module(forward_func: Callable[..., Any]) -> Optional[nn.Module]:
    """The nn.Module behind ``forward_func`` (itself, or the owner of a bound method)."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def describe_layer(forward_func: Callable[..., Any], layer: nn.Module) -> str:
    """``'features.3' (Conv2d)`` when the layer is found inside the model, else its type."""
    root = root_module(forward_func)
    if root is not None:
        for name, mod in root.named_modules():
            if mod is layer:
                return f"'{name or '<root>'}' ({type(layer).__name__})"
        return f"{type(layer).__name__} (not a submodule of {type(root).__name__})"
    return type(layer).__name__


def _as_tuple(x: Any) -> Tuple[Tensor, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


class LayerCapture:
    """Records (and optionally replaces) a layer's output, or its input with ``use_input``.

    ``replace``: a tuple of tensors substituted for the layer output (input) on every call.
    ``require_grad``: floating-point layer tensors that do not require grad (integer model
    inputs into an embedding, frozen parameters) are made to, so the output can be
    differentiated with respect to them (Captum's ``apply_gradient_requirements`` on the layer).
    After the forward, ``tensors`` holds the layer's tensors of the last call and ``is_tuple``
    whether the layer produced a tuple.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: nn.Module,
        use_input: bool = False,
        replace: Optional[Tuple[Tensor, ...]] = None,
        require_grad: bool = False,
    ) -> None:
        if not isinstance(layer, nn.Module):
            raise InputError(f"layer must be a torch.nn.Module, got {type(layer).__name__}")
        self.forward_func = forward_func
        self.layer = layer
        self.use_input = use_input
        self.replace = replace
        self.require_grad = require_grad
        self.tensors: Tuple[Tensor, ...] = ()
        self.is_tuple = False
        self.calls = 0
        self._handle: Any = None

    def _pre_hook(self, module: nn.Module, args: Tuple[Any, ...]) -> Any:
        self.calls += 1
        self.is_tuple = len(args) > 1
        if self.replace is not None:
            self.tensors = self.replace
            return tuple(r.clone() for r in self.replace)
        args = self._with_grad(tuple(args))
        self.tensors = args
        # the layer (or an in-place op after it) must not overwrite what we keep
        return tuple(a.clone() if isinstance(a, Tensor) else a for a in args)

    def _hook(self, module: nn.Module, args: Any, out: Any) -> Any:
        self.calls += 1
        self.is_tuple = isinstance(out, tuple)
        if self.replace is not None:
            self.tensors = self.replace
            # copies, so an in-place op after the layer cannot touch the differentiated leaves
            rep = tuple(r.clone() for r in self.replace)
            return rep if self.is_tuple else rep[0]
        if self.require_grad:
            out = self._with_grad(out) if isinstance(out, tuple) else self._with_grad((out,))[0]
        self.tensors = _as_tuple(out)
        # later in-place ops (ReLU(inplace=True)) act on a copy, as in Captum
        if isinstance(out, tuple):
            return tuple(o.clone() if isinstance(o, Tensor) else o for o in out)
        return out.clone() if isinstance(out, Tensor) else None

    def _with_grad(self, ts: Tuple[Any, ...]) -> Tuple[Any, ...]:
        if not (self.require_grad and torch.is_grad_enabled()):
            return ts
        return tuple(
            t.requires_grad_(True)
            if isinstance(t, Tensor) and t.is_floating_point() and not t.requires_grad else t
            for t in ts
        )

    def __enter__(self) -> "LayerCapture":
        if self.use_input:
            self._handle = self.layer.register_forward_pre_hook(self._pre_hook)
        else:
            self._handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()
        if exc[0] is None and self.calls == 0:
            raise InputError(
                f"layer {describe_layer(self.forward_func, self.layer)} was not called while "
                "running forward_func: it is not part of the forward graph. Pass a module that "
                "the model's forward actually uses."
            )


_state = threading.local()


@contextlib.contextmanager
def hooks_paused() -> Iterator[None]:
    """Inside, :func:`override_backward` hooks do nothing (for re-running a module in a rule)."""
    prev = getattr(_state, "paused", False)
    _state.paused = True
    try:
        yield
    finally:
        _state.paused = prev


def _paused() -> bool:
    return getattr(_state, "paused", False)


class _Record:
    """Per-call state of one overridden module: the plain gradient of its output, set by the
    next overridden module when that one consumes this output directly."""

    __slots__ = ("module", "x", "plain", "upstream")

    def __init__(self, module: nn.Module, x: Tensor) -> None:
        self.module = module
        self.x = x
        self.plain: Optional[Tensor] = None
        self.upstream: Optional["_Record"] = None


class _OverrideGrad(torch.autograd.Function):
    """Identity on ``y`` in the forward; the backward sends ``rule(grad_y, plain_grad_y)`` to
    the module inputs ``xs`` instead of the module's own vector-Jacobian product."""

    @staticmethod
    def forward(ctx: Any, rule: Any, rec: Any, y: Tensor, *xs: Tensor) -> Tensor:  # type: ignore[override]
        ctx.rule = rule
        ctx.rec = rec
        ctx.n = len(xs)
        return y.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:  # type: ignore[override]
        rec: _Record = ctx.rec
        plain = rec.plain if rec.plain is not None else grad
        if rec.upstream is not None and ctx.n == 1:
            # what a tensor hook on this module's input would have seen before the rule
            rec.upstream.plain = vjp(rec.module, rec.x, grad)
        out = ctx.rule(grad, plain)
        out = out if isinstance(out, tuple) else (out,)
        return (None, None, None) + tuple(out)


Rule = Callable[[Tensor, Tensor], Any]
RuleFactory = Callable[..., Rule]


@contextlib.contextmanager
def override_backward(
    modules: Sequence[nn.Module], make_rule: RuleFactory
) -> Iterator[None]:
    """For each module (tensor inputs, one tensor out), replace its backward by a rule.

    ``make_rule(module, x, y)`` (``make_rule(module, (x1, x2, ...), y)`` for modules with several
    tensor inputs) is called in the forward with the module's input values and output value
    (detached) and returns ``rule(grad_y, plain_grad_y) -> grad_x`` (a tuple for several inputs).
    ``grad_y`` is the gradient arriving at the output (already shaped by the rules after it);
    ``plain_grad_y`` equals it unless the output feeds another overridden module directly, in
    which case it is the gradient that module's *own* backward would have produced. That is
    what Captum's tensor-hook implementation hands its rules as ``grad_output`` (its hook on
    the output runs before the next module's hook rewrites the gradient), so rules that
    follow Captum use it where Captum uses ``grad_output``.
    In-place modules get a copy of their input so ``x`` is intact.
    """
    handles: List[Any] = []
    inputs: Dict[int, Tuple[Tensor, ...]] = {}
    produced: Dict[int, Tuple[Tensor, _Record]] = {}

    def pre_hook(module: nn.Module, args: Tuple[Any, ...]) -> Any:
        if _paused():
            return None
        xs = tuple(a for a in args if isinstance(a, Tensor))
        inputs[id(module)] = xs
        if getattr(module, "inplace", False) and xs:
            return tuple(a.clone() if a is xs[0] else a for a in args)
        return None

    def hook(module: nn.Module, args: Any, out: Any) -> Any:
        if _paused():
            return None
        xs = inputs.pop(id(module), None)
        if not xs or not isinstance(out, Tensor) or not torch.is_grad_enabled():
            return None
        rec = _Record(module, xs[0].detach())
        prev = produced.get(id(xs[0]))
        if len(xs) == 1 and prev is not None and prev[0] is xs[0]:
            rec.upstream = prev[1]
        vals = tuple(x.detach() for x in xs)
        rule = make_rule(module, vals[0] if len(vals) == 1 else vals, out.detach())
        new = _OverrideGrad.apply(rule, rec, out.detach(), *xs)
        produced[id(new)] = (new, rec)
        return new

    try:
        for m in modules:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
        inputs.clear()
        produced.clear()


def vjp(module: nn.Module, x: Tensor, grad: Tensor) -> Tensor:
    """The module's own gradient ``grad_y @ dy/dx`` at ``x`` (hooks bypassed)."""
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        y = module.forward(xr * 1 if getattr(module, "inplace", False) else xr)
        (g,) = torch.autograd.grad(y, xr, grad)
    return g


def modules_of_type(root: nn.Module, types: Tuple[type, ...]) -> List[nn.Module]:
    """Submodules whose exact type is one of ``types`` (as Captum: subclasses not included)."""
    return [m for m in root.modules() if type(m) in types]
