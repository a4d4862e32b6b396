"""Shapley values by permutation sampling (``ShapleyValueSampling``) and exactly
(``ShapleyValues``), Captum 0.9-compatible, as coalition plans on the perturbation engine.

ShapleyValueSampling: for each of ``n_samples`` feature orders, the M prefixes of the order
are M perturbations; feature ``perm[i]`` is credited ``f(prefix_{i+1}) - f(prefix_i)``
(``prefix_0`` = baseline); the credits are averaged over orders. All S·M prefixes go through
the engine in memory-sized chunks (Captum: one forward per ``perturbations_per_eval``
features). ShapleyValues gives the same numbers as averaging over all M! orders, computed
from the 2^M coalitions with the Shapley weights ``|T|! (M-|T|-1)! / M!``.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.masks import feature_ids, scatter_feature_values
from fastxai.attr._perturbation_common import check_masks_match_output
from fastxai.attr._sampling.plan import CoalitionPlan, evaluate_coalitions, initial_outputs
from fastxai.attr._sampling.samplers import permutation_orders
from fastxai.engine.ordered import fixed_order_sum
from fastxai.engine.targets import is_multi_target


def _feature_count(masks: Tuple[Tensor, ...], name: str) -> int:
    """M = max id + 1 (Captum's numbering); ids must be >= 0; missing ids get a warning."""
    ids = feature_ids(masks)
    if ids.numel() and int(ids.min()) < 0:
        raise InputError(f"feature_mask: ids must be >= 0, got minimum {int(ids.min())}")
    m = int(ids.max()) + 1 if ids.numel() else 0
    if ids.numel() != m:
        warnings.warn(
            f"{name}: feature_mask is missing some ids between 0 and {m - 1} ({ids.numel()} "
            f"distinct ids, {m} features); the missing ones get zero attribution. For best "
            "performance number the features 0..M-1.",
            UserWarning,
            stacklevel=4,
        )
    return m


def _to_attr(values: Tensor, masks: Tuple[Tensor, ...], initial: Tensor,
             inputs: Tuple[Tensor, ...], target: Any) -> Tuple[Tensor, ...]:
    """(O, M) per-feature values -> per input (*out, *S) (Captum's layout: out = (N,) for one
    target value per example, the output's shape otherwise, (1,) for a scalar per batch)."""
    out_dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
    n = inputs[0].shape[0]
    lead = tuple(initial.shape) if initial.dim() > 0 else (1,)
    if target is not None and initial.numel() == n:
        lead = (n,)
    if is_multi_target(target):  # (N·K, *S): format_result makes it (N, K, *S)
        lead = (initial.numel(),)
    per = scatter_feature_values(values.to(out_dtype), masks, None, inputs[0].shape[0], inputs)
    return tuple(a.reshape(lead + tuple(x.shape[1:])) for a, x in zip(per, inputs))


class ShapleyValueSampling(PerturbationAttribution):
    """Shapley value sampling (Castro et al. 2009), Captum-compatible and batched.

    ``attribute(inputs (N, ...), baselines, target, additional_forward_args, feature_mask,
    n_samples=25, perturbations_per_eval=None, show_progress=False, *, seed=None,
    antithetic=False, max_batch=None, max_memory=None)`` -> attributions shaped like the inputs
    (``(N, *out[1:], ...)`` for multi-dim outputs; first dim 1 for a scalar-per-batch forward).
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    @log_usage
    def attribute(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        *,
        seed: Optional[int] = None,
        antithetic: bool = False,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """Average marginal contributions over ``n_samples`` random feature orders.

        ``seed=None`` draws ``torch.randperm(M)`` per sample from the global RNG (Captum's
        numbers under the same ``torch.manual_seed``); ``seed=int`` uses Philox orders.
        ``antithetic``: every second order is the reverse of the previous one.
        """
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
            raise InputError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        return self._run(inputs, baselines, target, additional_forward_args, feature_mask,
                         perturbations_per_eval, show_progress, max_batch, max_memory,
                         n_samples=n_samples, seed=seed, antithetic=antithetic)

    @torch.no_grad()
    def _run(self, inputs, baselines, target, additional_forward_args, feature_mask,
             perturbations_per_eval, show_progress, max_batch, max_memory,
             n_samples=None, seed=None, antithetic=False):
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        masks = call.feature_masks
        m = _feature_count(masks, type(self).__name__)
        device, n = call.device, call.n
        base_full = tuple(torch.broadcast_to(b, x.shape).contiguous() for b, x in zip(call.baselines, call.inputs))
        initial = initial_outputs(self.forward_func, base_full, call.target, call.additional_args, call.options)
        check_masks_match_output(n, initial, masks)
        o = initial.numel()
        if n_samples is None:
            return self._exact(call, masks, m, initial)
        perms = permutation_orders(n_samples, m, device, seed, antithetic)
        ranks = perms.argsort(dim=1)

        def coalitions(p0: int, p1: int) -> Tensor:
            p = torch.arange(p0, p1, device=device)
            return (ranks[p // m] <= (p % m)[:, None]).unsqueeze(1)

        plan = CoalitionPlan(n_samples * m, coalitions, masks, call.baselines)
        with torch.no_grad():
            out = evaluate_coalitions(self.forward_func, call.inputs, call.target, call.additional_args,
                                      plan, initial, call.options)
            out = out.reshape(n_samples, m, o)
            prev = torch.cat([initial.reshape(1, 1, o).expand(n_samples, 1, o).to(out), out[:, :-1]], 1)
            diff = (out - prev).reshape(n_samples * m, o)
            acc_dtype = torch.float64 if diff.dtype == torch.float64 else torch.float32
            # Each order credits every feature once: place the credits by feature (a copy),
            # then add the orders up one at a time in sample order, as Captum does, with
            # elementwise adds (index_add_ / sum would pick their order by thread count).
            credit = torch.empty(n_samples, m, o, dtype=acc_dtype, device=device)
            credit.scatter_(1, perms.unsqueeze(-1).expand(n_samples, m, o),
                            diff.reshape(n_samples, m, o).to(acc_dtype))
            vals = credit[0].clone()
            for s in range(1, n_samples):
                vals.add_(credit[s])
            vals = (vals / n_samples).T
        return format_result(call, _to_attr(vals, masks, initial, call.inputs, call.target.raw))

    def _exact(self, call, masks, m, initial):
        if m > 30:
            raise InputError(f"ShapleyValues with {m} features needs 2^{m} evaluations; use "
                             "ShapleyValueSampling or a feature_mask with fewer features")
        if m >= 16:
            warnings.warn(
                f"ShapleyValues: {m} features means 2^{m} = {2 ** m} model evaluations per "
                "example; consider ShapleyValueSampling.", UserWarning, stacklevel=3)
        device = call.device
        bits = (1 << torch.arange(m, device=device))

        def coalitions(p0: int, p1: int) -> Tensor:
            p = torch.arange(p0, p1, device=device)
            return ((p[:, None] & bits) != 0).unsqueeze(1)

        plan = CoalitionPlan(2 ** m, coalitions, masks, call.baselines)
        o = initial.numel()
        with torch.no_grad():
            f = evaluate_coalitions(self.forward_func, call.inputs, call.target, call.additional_args,
                                    plan, initial, call.options)
            vals = shapley_from_coalition_values(f.reshape(2 ** m, o).to(torch.float64), m).T
            if f.dtype != torch.float64:
                vals = vals.to(torch.float32)
        return format_result(call, _to_attr(vals, masks, initial, call.inputs, call.target.raw))


def shapley_from_coalition_values(f: Tensor, m: int) -> Tensor:
    """Exact Shapley values from all coalition values.

    f: (2^M, O), row p = value of the coalition whose bit j says feature j is on.
    Returns (M, O): ``phi_j = sum_{T not containing j} |T|!(M-|T|-1)!/M! (f(T+j) - f(T))``.
    """
    p = torch.arange(2 ** m, device=f.device)
    size = torch.zeros_like(p)
    for j in range(m):
        size += (p >> j) & 1
    w = torch.tensor([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                      for s in range(m)] + [0.0], dtype=f.dtype, device=f.device)
    phi = torch.empty(m, f.shape[1], dtype=f.dtype, device=f.device)
    for j in range(m):
        without = p[((p >> j) & 1) == 0]
        phi[j] = fixed_order_sum(w[size[without]][:, None] * (f[without | (1 << j)] - f[without]))
    return phi


class ShapleyValues(ShapleyValueSampling):
    """Exact Shapley values (Captum's ``ShapleyValues``: the average over all M! orders),
    computed from the 2^M coalitions in batched engine passes.

    ``attribute(inputs, baselines, target, additional_forward_args, feature_mask,
    perturbations_per_eval=None, show_progress=False, *, max_batch=None, max_memory=None)``.
    """

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """Exact Shapley values; 2^M evaluations of (N rows) for M features."""
        return self._run(inputs, baselines, target, additional_forward_args, feature_mask,
                         perturbations_per_eval, show_progress, max_batch, max_memory)
