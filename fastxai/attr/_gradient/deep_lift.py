"""DeepLift (Shrikumar et al. 2017, rescale rule) and DeepLiftShap, Captum 0.9 semantics.

One forward over cat([inputs, baselines]) and one backward. Each supported nonlinearity
module's backward is replaced by its DeepLift multiplier rule (Captum's ``nonlinear``,
``softmax`` and ``maxpool`` rules, same formulas); every other module keeps its own gradient.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.forward import call_forward
from fastxai._captum.inputs import (
    BaselineType,
    TensorOrTuple,
    baseline_tensor,
    expand_additional_args,
    format_additional_args,
    format_baselines,
    format_inputs,
    format_output,
)
from fastxai._captum.targets import TargetType, expand_target
from fastxai.attr._gradient.gradient_shap import callable_baselines
from fastxai.engine.gradient import check_dropout, check_float_inputs, differentiate, select_row_outputs
from fastxai.engine.hooks import modules_of_type, override_backward, vjp

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


class DeepLift(GradientAttribution):
    """DeepLift rescale rule; ``model`` must be an nn.Module whose nonlinearities are modules
    (each used once per forward)."""

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True, eps: float = 1e-10) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"{type(self).__name__} needs an nn.Module model, got {type(model).__name__}")
        super().__init__(model)
        self.model = model
        self.eps = eps
        self._multiply_by_inputs = multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    def _multipliers(self, xs: Tuple[Tensor, ...], bs: Tuple[Tensor, ...], target: TargetType,
                     args: Optional[Tuple[Any, ...]]) -> Tuple[Tensor, ...]:
        check_dropout(self.model)
        mods = modules_of_type(self.model, tuple(SUPPORTED_NON_LINEAR))
        eps = self.eps

        def make_rule(m: nn.Module, x: Tensor, y: Tensor) -> Rule:
            return SUPPORTED_NON_LINEAR[type(m)](m, x, y, eps)

        with torch.enable_grad(), override_backward(mods, make_rule):
            leaves = tuple(x.detach().requires_grad_(True) for x in xs)
            fwd = tuple(torch.cat([l, b.expand_as(l)]) for l, b in zip(leaves, bs))
            out = call_forward(self.model, fwd, expand_additional_args(args, 2))
            out = select_row_outputs(out, expand_target(target, 2))
            return differentiate(out, leaves)

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
        tup, is_tuple = format_inputs(inputs)
        check_float_inputs(tup)
        fb = format_baselines(baselines, tup)
        bs = tuple(baseline_tensor(b, x).expand_as(x) for b, x in zip(fb, tup))
        args = format_additional_args(additional_forward_args)
        mult = self._multipliers(tup, bs, target, args)
        xs = tuple(x.detach() for x in tup)
        if custom_attribution_func is not None:
            attrs = call_custom_attribution_func(custom_attribution_func, mult, xs, bs)
        elif self._multiply_by_inputs:
            attrs = tuple((x - b) * m for x, b, m in zip(xs, bs, mult))
        else:
            attrs = mult
        out = format_output(is_tuple, attrs)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bs, xs, target, args)
        return out


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
        bl = callable_baselines(baselines, inputs)
        bl_t = bl if isinstance(bl, tuple) else (bl,)
        if not (isinstance(bl_t[0], Tensor) and bl_t[0].shape[0] > 1):
            raise InputError(
                "Baselines distribution has to be provided in form of a torch.Tensor with more "
                f"than one example but found: {bl_t[0]}. If baselines are provided in shape of "
                "scalars or with a single baseline example, `DeepLift` approach can be used instead."
            )
        tup, is_tuple = format_inputs(inputs)
        n, m = tup[0].shape[0], bl_t[0].shape[0]
        exp_in = tuple(x.detach().repeat_interleave(m, dim=0) for x in tup)
        exp_bl = tuple(b.repeat((n,) + (1,) * (b.dim() - 1)) for b in bl_t)
        exp_tgt = expand_target(target, m, interleave=True)
        args = format_additional_args(additional_forward_args)
        exp_args = expand_additional_args(args, m, interleave=True) if args is not None else None
        res = DeepLift.attribute.__wrapped__(
            self, exp_in, exp_bl, target=exp_tgt, additional_forward_args=exp_args,
            return_convergence_delta=return_convergence_delta,
            custom_attribution_func=custom_attribution_func,
        )
        if return_convergence_delta:
            res, delta = res
        attrs = tuple(a.reshape((n, m) + tuple(a.shape[1:])).mean(dim=1) for a in res)
        out = format_output(is_tuple, attrs)
        return (out, delta) if return_convergence_delta else out
