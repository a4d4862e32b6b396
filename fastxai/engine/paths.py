"""Path methods' parts, checked once: integration rules (Captum's ``approximation_methods``,
same numbers) and :func:`integrate_path`, the weighted path sum every IG form uses.

``step_sizes_and_alphas(method, S)`` -> (weights (S,), alphas (S,)) as Python floats. Riemann
alphas come from float32 ``torch.linspace`` and the weights are later rounded to float32, as in
Captum, so float64 models reproduce Captum to the last bits.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.gradient import GradientChunk, Sizing, iterate_gradients
from fastxai.engine.steps import PathPlan
from fastxai.ops.ig_path import ig_weighted_sum

RIEMANN = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
METHODS = RIEMANN + ("gausslegendre",)


def check_steps(n_steps: int, method: str) -> None:
    """Validate ``n_steps`` (>= 1; Riemann rules need >= 2, as Captum) and ``method``."""
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"n_steps must be an int >= 1, got {n_steps!r}")
    if method in RIEMANN and n_steps < 2:
        raise InputError(f"n_steps must be >= 2 for {method} (The number of steps has to be larger than one)")


def step_sizes_and_alphas(method: str, n: int) -> Tuple[List[float], List[float]]:
    """Weights and positions of the ``n`` integration points on [0, 1]."""
    check_steps(n, method)
    w, a = _rule(method, n)
    return list(w), list(a)


@functools.lru_cache(maxsize=64)
def _rule(method: str, n: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return tuple((0.5 * w).tolist()), tuple((0.5 * (1 + x)).tolist())
    deltas = [1 / n] * n
    kind = method.split("_")[1]
    if kind == "trapezoid":
        deltas[0] /= 2
        deltas[-1] /= 2
        alphas = torch.linspace(0, 1, n).tolist()
    elif kind == "left":
        alphas = torch.linspace(0, 1 - 1 / n, n).tolist()
    elif kind == "middle":
        alphas = torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n).tolist()
    else:
        alphas = torch.linspace(1 / n, 1, n).tolist()
    return tuple(deltas), tuple(alphas)


def float32_weights(weights: List[float]) -> torch.Tensor:
    """Step weights rounded to float32 then held in float64 (Captum's ``.float()``)."""
    return torch.tensor(weights).float().double()


def path_alphas(method: str, n_steps: int) -> Tuple[torch.Tensor, List[float]]:
    """(float64 weights rounded to float32 as Captum (S,), alphas) of a checked rule."""
    weights, alphas = step_sizes_and_alphas(method, n_steps)
    return float32_weights(weights), alphas


def weighted_step_sum(chunks: Iterable[GradientChunk], w64: Tensor, n: int) -> Tuple[Tensor, ...]:
    """sum_s w_s * grads_s over the gradient loop's chunks, per gradient tensor ((N, ...) each),
    in Captum's dtype (:func:`path_dtype`).

    float64 accumulators, one step at a time in step order: the sum then does not depend on
    where the (calibrated, call-dependent) chunk boundaries fall, so repeating a call gives
    bit-identical attributions as in Captum, and float32 models lose no precision over S steps.
    """
    accs: List[Tensor] = []
    dtypes: List[torch.dtype] = []
    for chunk in chunks:
        k = chunk.s1 - chunk.s0
        if not accs:
            accs = [torch.zeros((n,) + tuple(g.shape[1:]), dtype=torch.float64, device=g.device)
                    for g in chunk.grads]
            dtypes = [g.dtype for g in chunk.grads]
        for i, g in enumerate(chunk.grads):
            if g.requires_grad:  # grad_kwargs create_graph=True: keep the graph (torch ops)
                wk = w64[chunk.s0 : chunk.s1].reshape((k,) + (1,) * g.dim())
                accs[i] = accs[i] + (g.reshape((k, n) + tuple(g.shape[1:])) * wk.to(g)).sum(0)
            else:
                ig_weighted_sum(g, w64[chunk.s0 : chunk.s1], n, accs[i])  # fused, in step order
    return tuple(acc.to(path_dtype(dt)) for acc, dt in zip(accs, dtypes))


def integrate_path(
    forward_func: Callable[..., Any],
    xs: Tuple[Tensor, ...],
    bs: Tuple[Tensor, ...],
    target: Any,
    args: Optional[Tuple[Any, ...]],
    n_steps: int,
    method: str,
    sizing: Sizing = Sizing(),
    wrt: Any = None,
    model_inputs: Optional[Tuple[Tensor, ...]] = None,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[Tensor, ...]:
    """sum_s w_s * grad at b + alpha_s (x - b) for the path between ``bs`` and ``xs``
    ((N, ...) each), in the dtype Captum returns (:func:`path_dtype`).

    ``wrt``: :class:`~fastxai.engine.wrt.Inputs` (default) differentiates the path points;
    :class:`~fastxai.engine.wrt.ReplaceLayer` makes them replace a layer's tensors while the
    forward gets ``model_inputs`` (LayerIntegratedGradients); :class:`~fastxai.engine.wrt.Layer`
    gives the layer's gradients along the input path (InternalInfluence);
    :class:`~fastxai.engine.wrt.Neuron` differentiates a neuron instead of the target output.
    """
    w64, alphas = path_alphas(method, n_steps)
    plan = PathPlan(xs, bs, alphas, target, args, model_inputs)
    return weighted_step_sum(iterate_gradients(forward_func, plan, wrt, sizing, grad_kwargs), w64, xs[0].shape[0])


def path_dtype(dtype: torch.dtype) -> torch.dtype:
    """Captum multiplies the gradients by float32 step sizes: float16 / bfloat16 paths come
    back float32, float32 / float64 keep their dtype."""
    return torch.promote_types(dtype, torch.float32) if dtype.is_floating_point else dtype
