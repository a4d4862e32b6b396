"""Integrated Gradients (Sundararajan et al. 2017), Captum 0.9 semantics, streamed.

attr = (x - b) * sum_s w_s * grad f(b + alpha_s (x - b)). The steps are processed in chunks
of whole steps (all input tensors share each chunk's forward and backward); interpolation and
the weighted reduction run in the fused ``fastxai.ops.ig_path`` kernels, so the S*N step rows
never exist at once.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, log_usage
from fastxai._captum.inputs import (
    BaselineType,
    TensorOrTuple,
    baseline_tensor,
    format_additional_args,
    format_baselines,
    format_inputs,
    format_output,
)
from fastxai._captum.targets import TargetType
from fastxai.attr._gradient.paths import check_steps, float32_weights, step_sizes_and_alphas
from fastxai.engine.gradient import check_float_inputs, iterate_gradients
from fastxai.ops.ig_path import ig_interpolate, ig_weighted_sum


def integrate_path(
    forward_func: Callable[..., Any],
    xs: Tuple[Tensor, ...],
    bs: Tuple[Tensor, ...],
    target: TargetType,
    args: Optional[Tuple[Any, ...]],
    n_steps: int,
    method: str,
    internal_batch_size: Optional[int] = None,
    max_batch: Optional[int] = None,
    max_memory: Optional[int] = None,
    layer: Optional[Union[nn.Module, List[nn.Module]]] = None,
    layer_input: bool = False,
    model_inputs: Optional[Tuple[Tensor, ...]] = None,
    layer_counts: Optional[List[int]] = None,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[Tensor, ...]:
    """sum_s w_s * grad at b + alpha_s (x - b), per tensor of ``xs`` ((N, ...) each).

    With ``layer`` the interpolated tensors replace that layer's output (input) and
    ``forward_func`` is called with ``model_inputs`` repeated per step (LayerIntegratedGradients);
    a list of layers takes ``layer_counts[i]`` consecutive tensors of ``xs`` each.
    """
    weights, alphas = step_sizes_and_alphas(method, n_steps)
    w = float32_weights(weights)
    a = torch.tensor(alphas, dtype=torch.float64)
    n = xs[0].shape[0]

    def build(s0: int, s1: int) -> Tuple[Tuple[Tensor, ...], Optional[Tuple[Tensor, ...]]]:
        with torch.no_grad():
            leaves = tuple(ig_interpolate(x.detach(), b.detach(), a[s0:s1]) for x, b in zip(xs, bs))
            fwd = None
            if model_inputs is not None:
                fwd = tuple(torch.cat([m] * (s1 - s0), dim=0) for m in model_inputs)
        return leaves, fwd

    # float64 accumulators, one step at a time in step order: the sum then does not depend on
    # where the (calibrated, call-dependent) chunk boundaries fall, so repeating a call gives
    # bit-identical attributions as in Captum, and float32 models lose no precision over S steps
    accs = [torch.zeros_like(x, dtype=torch.float64, memory_format=torch.contiguous_format)
            for x in xs]
    w64 = torch.as_tensor(w, dtype=torch.float64)
    for chunk in iterate_gradients(
        forward_func, build, n_steps, n, target, args, model_inputs or xs,
        internal_batch_size=internal_batch_size, max_batch=max_batch, max_memory=max_memory,
        layer=layer, layer_input=layer_input, inject=layer is not None, layer_counts=layer_counts,
        mode_tag="ig", grad_kwargs=grad_kwargs,
    ):
        for i, g in enumerate(chunk.grads):
            if g.requires_grad:  # grad_kwargs create_graph=True: keep the graph (torch ops)
                k = chunk.s1 - chunk.s0
                wk = w64[chunk.s0 : chunk.s1].reshape((k,) + (1,) * g.dim())
                accs[i] = accs[i] + (g.reshape((k, n) + tuple(g.shape[1:])) * wk.to(g)).sum(0)
            else:
                ig_weighted_sum(g, w64[chunk.s0 : chunk.s1], n, accs[i])  # fused, in step order
    return tuple(acc.to(x.dtype) for acc, x in zip(accs, xs))


class IntegratedGradients(GradientAttribution):
    """Integrated Gradients with Captum's signature; ``max_batch`` / ``max_memory`` (bytes)
    bound the rows per forward+backward when ``internal_batch_size`` is None."""

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

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
        return_convergence_delta: bool = False,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Union[TensorOrTuple, Tuple[TensorOrTuple, Tensor]]:
        """inputs (N, ...) or a tuple -> attributions of the same shapes; delta (N,)."""
        tup, is_tuple = format_inputs(inputs)
        check_float_inputs(tup)
        fb = format_baselines(baselines, tup)
        check_steps(n_steps, method)
        bs = tuple(baseline_tensor(b, x) for b, x in zip(fb, tup))
        args = format_additional_args(additional_forward_args)
        total = integrate_path(
            self.forward_func, tup, bs, target, args, n_steps, method,
            internal_batch_size, max_batch, max_memory,
        )
        if self._multiply_by_inputs:
            attrs = tuple(t * (x.detach() - b) for t, x, b in zip(total, tup, bs))
        else:
            attrs = total
        out = format_output(is_tuple, attrs)
        if return_convergence_delta:
            delta = self.compute_convergence_delta(attrs, bs, tup, target, additional_forward_args)
            return out, delta
        return out

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs
