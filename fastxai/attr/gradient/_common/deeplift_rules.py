"""DeepLift's backward rules (Captum's ``nonlinear``, ``softmax`` and ``maxpool`` rules, same
formulas) and the multiplier pass shared by DeepLift, DeepLiftShap and their layer / neuron
forms: one forward over ``cat([inputs, baselines])`` (the engine's pair plan) and one backward
with each supported nonlinearity module's backward replaced by its rule; every other module
keeps its own gradient.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.call import CallRecord, normalize_call
from fastxai._captum.errors import InputError
from fastxai.engine.baselines import baseline_distribution
from fastxai.engine.forward import expand_additional_args
from fastxai.engine.gradient import GradientChunk, Sizing, check_dropout, iterate_gradients
from fastxai.engine.hooks import modules_of_type, override_backward, vjp
from fastxai.engine.steps import PairPass
from fastxai.engine.targets import TargetType, expand_target

Rule = Callable[[Tensor, Tensor], Tensor]
# Rules receive (grad, plain): ``grad`` is the gradient reaching the module output, ``plain``
# what Captum's hooks pass as ``grad_output`` (see fastxai.engine.hooks.override_backward).


def _diffs(x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    xi, xr = x.chunk(2)
    yi, yr = y.chunk(2)
    return torch.cat(2 * [xi - xr]), torch.cat(2 * [yi - yr])


def _nonlinear(module: nn.Module, x: Tensor, y: Tensor, eps: float) -> Rule:
    dx, dy = _diffs(x, y)

    def rule(g: Tensor, plain: Tensor) -> Tensor:
        return torch.where(dx.abs() < eps, vjp(module, x, g), plain * dy / dx)

    return rule


def _softmax(module: nn.Module, x: Tensor, y: Tensor, eps: float) -> Rule:
    base = _nonlinear(module, x, y, eps)

    def rule(g: Tensor, plain: Tensor) -> Tensor:
        unnorm = base(g, plain)
        return unnorm - unnorm.sum() * 1 / g.numel()

    return rule


_POOL = {
    nn.MaxPool1d: (F.max_pool1d, F.max_unpool1d),
    nn.MaxPool2d: (F.max_pool2d, F.max_unpool2d),
    nn.MaxPool3d: (F.max_pool3d, F.max_unpool3d),
}


def _maxpool(module: nn.Module, x: Tensor, y: Tensor, eps: float) -> Rule:
    pool, unpool = _POOL[type(module)]

    def rule(g: Tensor, plain: Tensor) -> Tensor:
        with torch.no_grad():
            xi, xr = x.chunk(2)
            yi, yr = y.chunk(2)
            dx = torch.cat(2 * [xi - xr])
            ymax = torch.max(yi, yr)
            dy = torch.cat([ymax - yr, yi - ymax])
            _, idx = pool(x, module.kernel_size, module.stride, module.padding, module.dilation,
                          module.ceil_mode, True)
            a, b = torch.chunk(
                unpool(plain * dy, idx, module.kernel_size, module.stride, module.padding, list(x.shape)), 2
            )
            u = torch.cat(2 * [a + b])
            # Captum indexes its grad_input tensor with [0] here (the first row, broadcast)
            return torch.where(dx.abs() < eps, vjp(module, x, g)[0], u / dx)

    return rule


SUPPORTED_NON_LINEAR: Dict[type, Callable[[nn.Module, Tensor, Tensor, float], Rule]] = {
    nn.ReLU: _nonlinear, nn.ELU: _nonlinear, nn.LeakyReLU: _nonlinear, nn.Sigmoid: _nonlinear,
    nn.Tanh: _nonlinear, nn.Softplus: _nonlinear, nn.MaxPool1d: _maxpool, nn.MaxPool2d: _maxpool,
    nn.MaxPool3d: _maxpool, nn.Softmax: _softmax,
}


def call_custom_attribution_func(func: Callable[..., Any], multipliers: Tuple[Tensor, ...],
                                 inputs: Tuple[Tensor, ...], baselines: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """Captum's dispatch on the custom function's arity (1, 2 or 3 arguments)."""
    n = len(inspect.signature(func).parameters)
    if n == 1:
        out = func(multipliers)
    elif n == 2:
        out = func(multipliers, inputs)
    elif n == 3:
        out = func(multipliers, inputs, baselines)
    else:
        raise InputError("custom_attribution_func must take 1 to 3 arguments")
    return out if isinstance(out, tuple) else (out,)


def deeplift_pass(model: nn.Module, eps: float, xs: Tuple[Tensor, ...], bs: Tuple[Tensor, ...],
                  target: Any, args: Optional[Tuple[Any, ...]], wrt: Any = None,
                  grad_kwargs: Optional[Dict[str, Any]] = None,
                  exclude: Optional[nn.Module] = None) -> GradientChunk:
    """One forward over cat([xs, bs]) (2N rows) and one backward under DeepLift's rules;
    ``wrt`` as in the gradient loop (default the inputs). ``exclude``: a module left with its
    own gradient (LayerDeepLift's layer: in Captum the gradient read at the layer's input is
    its plain one). Returns the engine's chunk."""
    check_dropout(model)
    mods = [m for m in modules_of_type(model, tuple(SUPPORTED_NON_LINEAR)) if m is not exclude]

    def make_rule(m: nn.Module, x: Tensor, y: Tensor) -> Rule:
        return SUPPORTED_NON_LINEAR[type(m)](m, x, y, eps)

    plan = PairPass(xs, bs, target, args)
    with override_backward(mods, make_rule):
        (chunk,) = list(iterate_gradients(model, plan, wrt, Sizing(internal_batch_size=max(1, plan.rows)),
                                          grad_kwargs))
    return chunk


def require_model(model: Any, who: str) -> None:
    """DeepLift's hooks need an nn.Module."""
    if not isinstance(model, nn.Module):
        raise InputError(f"{who} needs an nn.Module model, got {type(model).__name__}")


def expand_over_baselines(
    inputs: Any, baselines: Any, target: TargetType, additional_forward_args: Any, name: str,
) -> Tuple[CallRecord, CallRecord, int, int]:
    """DeepLiftShap's N*M-row call (Captum's order: each example repeated M times in a row, the
    M baseline rows tiled N times). ``baselines``: (M >= 2, ...) per input, or a callable.
    Returns (the user's call, the expanded call, N, M); average the expanded results with
    :func:`mean_over_baselines`."""
    bl = baseline_distribution(baselines, inputs, name, need_rows=2)
    bl_t = bl if isinstance(bl, tuple) else (bl,)
    call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
    n, m = call.n, bl_t[0].shape[0]
    exp = normalize_call(
        tuple(x.detach().repeat_interleave(m, dim=0) for x in call.inputs),
        baselines=tuple(b.repeat((n,) + (1,) * (b.dim() - 1)) for b in bl_t),
        target=expand_target(target, m, interleave=True),
        additional_forward_args=expand_additional_args(call.additional_args, m, interleave=True),
    )
    return call, exp, n, m


def mean_over_baselines(attrs: Tuple[Tensor, ...], n: int, m: int) -> Tuple[Tensor, ...]:
    """(N*M, ...) results of an :func:`expand_over_baselines` call -> (N, ...) means over M."""
    return tuple(a.reshape((n, m) + tuple(a.shape[1:])).mean(dim=1) for a in attrs)
