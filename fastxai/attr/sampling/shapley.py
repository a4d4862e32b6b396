"""Shapley values by permutation sampling (``ShapleyValueSampling``) and exactly
(``ShapleyValues``), Captum 0.9-compatible, as coalition plans on the perturbation engine.

ShapleyValueSampling: for each of ``n_samples`` feature orders, the M prefixes of the order
are M perturbations; feature ``perm[i]`` is credited ``f(prefix_{i+1}) - f(prefix_i)``
(``prefix_0`` = baseline); the credits are averaged over orders. All S·M prefixes go through
the engine in memory-sized chunks (Captum: one forward per ``perturbations_per_eval``
features). ShapleyValues gives the same numbers as averaging over all M! orders, computed
from the 2^M coalitions with the Shapley weights ``|T|! (M-|T|-1)! / M!``. Both are a
:class:`~fastxai.engine.plans.CoalitionPlan` plus a reducer (:class:`~fastxai.engine.reducers.PrefixCredits`,
or an :class:`~fastxai.engine.reducers.OutputStore` and
:func:`~fastxai.engine.reducers.shapley_from_coalition_values`).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.futures import attribute_future
from fastxai._captum.errors import InputError
from fastxai.engine.checks import check_masks_match_output
from fastxai.engine.features import feature_ids, scatter_feature_values
from fastxai.engine.perturb import initial_outputs, run_call
from fastxai.engine.plans import CoalitionPlan
from fastxai.engine.reducers import OutputStore, PrefixCredits, shapley_from_coalition_values
from fastxai.engine.sampling import all_subsets, permutation_orders, permutation_prefixes


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


def _coalition_space(forward_func: Callable[..., Any], call: Any, name: str) -> Tuple[int, Tensor]:
    """M (Captum's numbering: max id + 1) and the model on the all-baseline input (the
    coalitions' reference value, Captum's ``initial_eval``), after the mask checks."""
    m = _feature_count(call.feature_masks, name)
    base_full = tuple(torch.broadcast_to(b, x.shape).contiguous() for b, x in zip(call.baselines, call.inputs))
    initial = initial_outputs(forward_func, base_full, call.target, call.additional_args, call.options)
    check_masks_match_output(call.n, initial, call.feature_masks)
    return m, initial


def _to_attr(values: Tensor, call: Any, initial: Tensor) -> Tuple[Tensor, ...]:
    """(O, M) per-feature values -> per input (*out, *S) (Captum's layout: out = (N,) for one
    target value per example, the output's shape otherwise, (1,) for a scalar per batch)."""
    out_dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
    n, target = call.n, call.target.raw
    lead = tuple(initial.shape) if initial.dim() > 0 else (1,)
    if target is not None and initial.numel() == n:
        lead = (n,)
    if call.target.multi:  # (N·K, *S): format_result makes it (N, K, *S)
        lead = (initial.numel(),)
    per = scatter_feature_values(values.to(out_dtype), call.feature_masks, None, n, call.inputs)
    return tuple(a.reshape(lead + tuple(x.shape[1:])) for a, x in zip(per, call.inputs))


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
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution", scalar_baselines_in_input_dtype=True,
        )
        m, initial = _coalition_space(self.forward_func, call, type(self).__name__)
        perms = permutation_orders(n_samples, m, call.device, seed, antithetic)
        credits = PrefixCredits(perms, initial)
        plan = CoalitionPlan(n_samples * m, permutation_prefixes(perms), call.feature_masks, call.baselines)
        with torch.no_grad():
            run_call(self.forward_func, call, plan, credits, initial)
        return format_result(call, _to_attr(credits.values.T, call, initial))

    def attribute_future(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> "torch.futures.Future[Any]":
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``
        (Captum's ``attribute_future``): a completed future of the same attributions.
        ``kwargs``: ``seed``, ``antithetic``, ``max_batch``, ``max_memory``."""
        return attribute_future(self, inputs, baselines, target, additional_forward_args, feature_mask,
                                n_samples, perturbations_per_eval, show_progress, **kwargs)


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
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution", scalar_baselines_in_input_dtype=True,
        )
        m, initial = _coalition_space(self.forward_func, call, type(self).__name__)
        if m > 30:
            raise InputError(f"ShapleyValues with {m} features needs 2^{m} evaluations; use "
                             "ShapleyValueSampling or a feature_mask with fewer features")
        if m >= 16:
            warnings.warn(f"ShapleyValues: {m} features means 2^{m} = {2 ** m} model evaluations per "
                          "example; consider ShapleyValueSampling.", UserWarning, stacklevel=3)
        plan = CoalitionPlan(2 ** m, all_subsets(m, call.device), call.feature_masks, call.baselines)
        store = OutputStore(2 ** m, initial)
        with torch.no_grad():
            run_call(self.forward_func, call, plan, store, initial)
        f = store.values
        vals = shapley_from_coalition_values(f.reshape(2 ** m, -1).to(torch.float64), m).T
        return format_result(call, _to_attr(vals if f.dtype == torch.float64 else vals.float(), call, initial))

    def attribute_future(  # type: ignore[override]
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> "torch.futures.Future[Any]":
        """Exact Shapley values for a futures-returning ``forward_func`` (Captum's signature,
        inherited there from ShapleyValueSampling; ``n_samples`` is ignored, as in Captum)."""
        return attribute_future(self, inputs, baselines, target, additional_forward_args, feature_mask,
                                perturbations_per_eval, show_progress, **kwargs)
