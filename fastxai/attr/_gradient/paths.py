"""Integration rules for path methods (Captum's ``approximation_methods``, same numbers).

``step_sizes_and_alphas(method, S)`` -> (weights (S,), alphas (S,)) as Python floats. Riemann
alphas come from float32 ``torch.linspace`` and the weights are later rounded to float32, as in
Captum, so float64 models reproduce Captum to the last bits.
"""
from __future__ import annotations

import functools
from typing import List, Tuple

import numpy as np
import torch

from fastxai._captum.errors import InputError

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
