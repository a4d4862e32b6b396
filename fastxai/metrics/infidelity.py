"""Captum-compatible ``infidelity`` (Yeh et al. 2019): same signature, same numbers.

INFD(Φ, f, x) = E_I[(Iᵀ Φ(x) - (f(x) - f(x - I)))²], estimated with ``n_perturb_samples``
draws of ``perturb_func`` per example. ``perturb_func`` is called on the same
repeat-interleaved inputs, in the same chunks and order as ``captum.metrics.infidelity``, so
a seeded run gives Captum's values; the unperturbed forward pass runs once (Captum repeats
it per chunk).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai.metrics import _expand as E


def infidelity_perturb_func_decorator(multiply_by_inputs: bool = True) -> Callable:
    """Wrap ``perturb_func(inputs[, baselines]) -> perturbed inputs`` into the (perturbations,
    perturbed inputs) form ``infidelity`` expects (as captum's decorator)."""

    def decorator(perturb_func: Callable) -> Callable:
        def wrapped(inputs: Any, baselines: Any = None) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
            perturbed = perturb_func(inputs, baselines) if baselines is not None else perturb_func(inputs)
            perturbed_t, inputs_t = E.as_tuple(perturbed), E.as_tuple(inputs)
            base_t = E.format_baselines(baselines, inputs_t)
            if base_t is None:
                pert = tuple(E.safe_div(i - p, i) if multiply_by_inputs else i - p for i, p in zip(inputs_t, perturbed_t))
            else:
                pert = tuple(E.safe_div(i - p, i - b) if multiply_by_inputs else i - p
                             for i, p, b in zip(inputs_t, perturbed_t, base_t))
            return pert, perturbed_t

        return wrapped

    return decorator


def _expand_baselines(baselines: Optional[Tuple[Any, ...]], inputs: Tuple[Tensor, ...], n: int):
    if baselines is None:
        return None
    return tuple(b.repeat_interleave(n, dim=0) if isinstance(b, Tensor) and b.shape[0] == x.shape[0] and b.shape[0] > 1
                 else b for x, b in zip(inputs, baselines))


def infidelity(
    forward_func: Callable[..., Tensor],
    perturb_func: Callable[..., Tuple[Any, Any]],
    inputs: Any,
    attributions: Any,
    baselines: Any = None,
    additional_forward_args: Any = None,
    target: Any = None,
    n_perturb_samples: int = 10,
    max_examples_per_batch: Optional[int] = None,
    normalize: bool = False,
) -> Tensor:
    """Infidelity per example, (N,). Arguments as ``captum.metrics.infidelity``.

    Args:
        inputs, attributions: tensor (N, ...) or tuple of tensors of matching shapes.
        perturb_func: ``(inputs[, baselines]) -> (perturbations, perturbed_inputs)`` on inputs
            repeated ``n`` times per example (repeat_interleave).
        max_examples_per_batch: bound on N * samples per forward chunk.
        normalize: scale attributions by the optimal β before scoring.
    """
    E.check_counts(n_perturb_samples, max_examples_per_batch)
    x = E.as_tuple(inputs)
    attrs = E.as_tuple(attributions)
    if len(x) != len(attrs) or any(a.shape != i.shape for a, i in zip(attrs, x)):
        raise AssertionError("inputs and attributions must have matching numbers and shapes of tensors")
    base = E.format_baselines(baselines, x)
    args = E.format_args(additional_forward_args)
    bsz = x[0].shape[0]
    sums = None
    with torch.no_grad():
        fwd = E.run_forward(forward_func, x, target, args)
        for n in E.chunk_sizes(bsz, n_perturb_samples, max_examples_per_batch):
            xe = tuple(t.repeat_interleave(n, dim=0) for t in x)
            be = _expand_baselines(base, x, n)
            xa = xe[0] if len(xe) == 1 else xe
            ba = (be[0] if len(be) == 1 else be) if be is not None else None
            pert, x_pert = perturb_func(xa, ba) if ba is not None else perturb_func(xa)
            pert, x_pert = E.as_tuple(pert), E.as_tuple(x_pert)
            if len(pert) != len(x):
                raise AssertionError("perturb_func must return one perturbation per input tensor")
            out_pert = E.run_forward(forward_func, x_pert, E.expand_target(target, n), E.expand_args(args, n))
            diffs = (fwd.repeat_interleave(n, dim=0) - out_pert).reshape(bsz, -1)
            dots = sum((a.repeat_interleave(n, dim=0) * p).reshape(bsz * n, -1).sum(1) for a, p in zip(attrs, pert))
            dots = dots.reshape(bsz, -1)
            parts = ((dots.pow(2).sum(-1), (dots * diffs).sum(-1), diffs.pow(2).sum(-1)) if normalize
                     else ((dots - diffs).pow(2).sum(-1),))
            sums = parts if sums is None else tuple(s + q for s, q in zip(sums, parts))
    if normalize:
        beta = E.safe_div(sums[1], sums[0])
        values = beta * beta * sums[0] - 2 * beta * sums[1] + sums[2]
    else:
        values = sums[0]
    return values / n_perturb_samples
