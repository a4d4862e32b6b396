"""Captum-compatible ``sensitivity_max`` plus ``avg_sensitivity`` (Yeh et al. 2019).

SENS(Φ, x) = agg over perturbations x' of ‖Φ(x) - Φ(x')‖ / ‖Φ(x)‖ (a zero norm counts as 1),
agg = max (``sensitivity_max``, Captum's and Quantus' MaxSensitivity) or mean
(``avg_sensitivity``). ``perturb_func`` is called on the same repeat-interleaved inputs, in the
same chunks and order as ``captum.metrics.sensitivity_max``, so seeded runs equal Captum's.
"""
from __future__ import annotations

import copy
from inspect import signature
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai.metrics import _expand as E


def default_perturb_func(inputs: Any, perturb_radius: float = 0.02) -> Tuple[Tensor, ...]:
    """x + U(-r, r) noise (float32 draws from the global torch RNG, as Captum)."""
    return tuple(x + torch.empty(x.size(), dtype=torch.float32).uniform_(-perturb_radius, perturb_radius).to(x.device)
                 for x in E.as_tuple(inputs))


def _expanded_kwargs(kwargs: dict, inputs: Tuple[Tensor, ...], n: int) -> dict:
    out = copy.deepcopy(kwargs)
    if "additional_forward_args" in out:
        out["additional_forward_args"] = E.expand_args(E.format_args(out["additional_forward_args"]), n)
    if "target" in out:
        out["target"] = E.expand_target(out["target"], n)
    if "baselines" in out:
        base = E.format_baselines(out["baselines"], inputs)
        if isinstance(base[0], Tensor) and base[0].shape == inputs[0].shape:
            out["baselines"] = tuple(b.repeat_interleave(n, dim=0) if isinstance(b, Tensor) else b for b in base)
    return out


def _sensitivity(explanation_func: Callable[..., Any], inputs: Any, perturb_func: Callable, perturb_radius: float,
                 n_perturb_samples: int, norm_ord: str, max_examples_per_batch: Optional[int], agg: str,
                 kwargs: dict) -> Tensor:
    E.check_counts(n_perturb_samples, max_examples_per_batch)
    x = E.as_tuple(inputs)
    bsz = x[0].shape[0]
    takes_radius = len(signature(perturb_func).parameters) > 1
    result, cache = None, {}
    with torch.no_grad():
        expl = E.as_tuple(explanation_func(x, **kwargs))
        flat = torch.cat([e.reshape(e.shape[0], -1) for e in expl], 1)
        norm = torch.norm(flat, p=norm_ord, dim=1, keepdim=True)
        norm = torch.where(norm == 0.0, torch.tensor(1.0, dtype=norm.dtype, device=norm.device), norm)
        for n in E.chunk_sizes(bsz, n_perturb_samples, max_examples_per_batch):
            xe = tuple(t.repeat_interleave(n, dim=0) for t in x)
            xa = xe[0] if len(xe) == 1 else xe
            x_pert = perturb_func(xa, perturb_radius) if takes_radius else perturb_func(xa)
            if n not in cache:
                cache = {n: _expanded_kwargs(kwargs, x, n)}
            expl_p = E.as_tuple(explanation_func(x_pert, **cache[n]))
            diff = torch.cat([(e.repeat_interleave(n, dim=0) - ep).reshape(bsz * n, -1) for e, ep in zip(expl, expl_p)], 1)
            sens = (torch.norm(diff, p=norm_ord, dim=1, keepdim=True) / norm.repeat_interleave(n, dim=0)).reshape(bsz, -1)
            if agg == "max":
                part = sens.max(dim=1).values
                result = part if result is None else torch.max(result, part)
            else:
                part = sens.sum(dim=1)
                result = part if result is None else result + part
    return result if agg == "max" else result / n_perturb_samples


def sensitivity_max(
    explanation_func: Callable[..., Any],
    inputs: Any,
    perturb_func: Callable[..., Any] = default_perturb_func,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str = "fro",
    max_examples_per_batch: Optional[int] = None,
    **kwargs: Any,
) -> Tensor:
    """Max sensitivity per example, (N,). Arguments as ``captum.metrics.sensitivity_max``;
    ``kwargs`` (target, additional_forward_args, baselines, ...) go to ``explanation_func``."""
    return _sensitivity(explanation_func, inputs, perturb_func, perturb_radius, n_perturb_samples, norm_ord,
                        max_examples_per_batch, "max", kwargs)


def avg_sensitivity(
    explanation_func: Callable[..., Any],
    inputs: Any,
    perturb_func: Callable[..., Any] = default_perturb_func,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str = "fro",
    max_examples_per_batch: Optional[int] = None,
    **kwargs: Any,
) -> Tensor:
    """Average sensitivity per example, (N,): the mean instead of the max over perturbations."""
    return _sensitivity(explanation_func, inputs, perturb_func, perturb_radius, n_perturb_samples, norm_ord,
                        max_examples_per_batch, "mean", kwargs)
