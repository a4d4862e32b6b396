"""Surrogate attribution in an interpretable space (Lime, KernelShap), as a composition.

:func:`interpretable_attribution` (on a call record) / :func:`fit_interpretable` run one
pipeline from three parts the method picks:

* a **sampler** -- ``(space, n_samples) -> z (S, B, M)`` bool coalitions: :class:`LimeSampler`
  (Bernoulli(0.5)), :class:`KernelShapSampler` (Shapley-kernel sizes), or
  :class:`FunctionSampler` around a user ``perturb_func`` (Captum's per-sample calls);
* a **similarity** -- ``(space, z (B, S, M)) -> (B, S)`` sample weights:
  :class:`ExpKernelWeights`, :class:`ShapleyKernelWeights`, or :class:`FunctionWeights` around a
  user ``similarity_func``;
* a **surrogate** -- anything with ``solve(X, y, w, efficiency=, dtype=)`` (fastxai's batched
  surrogates) or a Captum ``Model`` (``fit(DataLoader)`` + ``representation()``, per problem).

The coalitions of every problem go through the perturbation engine as one
:class:`~fastxai.engine.plans.CoalitionPlan`; one surrogate per problem is fitted (B = N
problems, or 1 when the forward returns one value per batch).
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.ordered import single_threaded
from fastxai.engine.features import interpretable_ids, scatter_feature_values
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.plans import CoalitionPlan
from fastxai.engine.reducers import OutputStore
from fastxai.engine.sampling import kernel_shap_coalitions, lime_coalitions
from fastxai.engine.similarity import ExpKernel, feature_sums, shapley_kernel_weights
from fastxai.ops.captum_draws import captum_fit_draw


class Space:
    """The interpretable space of one call: ``masks`` (per input (1|N, *S) ids 0..M-1), M
    features, B problems; ``extra`` holds the method's own kwargs for user callbacks
    (KernelShap's ``num_select_distribution``)."""

    def __init__(self, call: Any, masks: Tuple[Tensor, ...], m: int, b: int,
                 extra: Optional[Dict[str, Any]] = None) -> None:
        self.call, self.masks, self.m, self.b = call, masks, m, b
        self.extra = extra or {}
        self._examples: Optional[List[Tuple[Any, Dict[str, Any]]]] = None

    @property
    def device(self) -> torch.device:
        return self.call.device

    def examples(self) -> List[Tuple[Any, Dict[str, Any]]]:
        """Per problem: (its inputs in the user's form, the kwargs Captum passes to callbacks)."""
        if self._examples is None:
            self._examples = [self._example(e) for e in range(self.b)]
        return self._examples

    def _example(self, e: int) -> Tuple[Any, Dict[str, Any]]:
        call, n = self.call, self.call.n
        one = self.b > 1
        sl = slice(e, e + 1) if one else slice(0, n)
        xs = tuple(x[sl] for x in call.inputs)
        bs = tuple(b[sl] if isinstance(b, Tensor) and b.dim() > 0 and b.shape[0] == n and one else b
                   for b in call.captum_baselines)
        ms = tuple(mk[sl] if mk.shape[0] == n and one else mk for mk in self.masks)
        pick = (lambda t: t) if call.is_tuple else (lambda t: t[0])
        kw = dict(baselines=pick(bs), feature_mask=pick(ms), num_interp_features=self.m, **self.extra)
        return pick(xs), kw


class LimeSampler:
    """Bernoulli(0.5) coalitions: Captum's ``torch.bernoulli`` draws, or Philox with ``seed``."""

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    def __call__(self, space: Space, n_samples: int) -> Tensor:
        return lime_coalitions(n_samples, space.b, space.m, space.device, self.seed)


class KernelShapSampler:
    """KernelSHAP coalitions (all-on, all-off, then Shapley-kernel sizes); ``paired``: each
    random coalition followed by its complement."""

    def __init__(self, seed: Optional[int] = None, paired: bool = False) -> None:
        self.seed, self.paired = seed, paired

    def __call__(self, space: Space, n_samples: int) -> Tensor:
        if space.m < 2:
            raise InputError(f"KernelShap needs at least 2 interpretable features, got {space.m}; "
                             "with one feature its attribution is f(x) - f(baseline)")
        return kernel_shap_coalitions(n_samples, space.b, space.m, space.device, self.seed, self.paired)


class FunctionSampler:
    """A user ``perturb_func`` (function or generator), called per problem and sample with
    Captum's kwargs; the global RNG steps past each problem's fit as Captum's does."""

    def __init__(self, perturb_func: Callable[..., Any]) -> None:
        self.func = perturb_func

    def __call__(self, space: Space, n_samples: int) -> Tensor:
        per = []
        for inp, kw in space.examples():
            gen = self.func(inp, **kw) if inspect.isgeneratorfunction(self.func) else None
            rows = []
            for _ in range(n_samples):
                try:
                    rows.append((next(gen) if gen is not None else self.func(inp, **kw)).reshape(-1))
                except StopIteration:
                    warnings.warn("Generator completed prior to given n_samples iterations!", stacklevel=4)
                    break
            per.append(torch.stack(rows).to(space.device))
            captum_fit_draw(space.m)
        s = min(r.shape[0] for r in per)
        return torch.stack([r[:s] for r in per], dim=1).bool()


class ExpKernelWeights:
    """Captum's exponential kernel, computed for all coalitions at once (exact distances from
    per-feature sums)."""

    def __init__(self, kernel: ExpKernel) -> None:
        self.kernel = kernel

    def __call__(self, space: Space, z: Tensor) -> Tensor:
        c = space.call
        return self.kernel.batched(feature_sums(c.inputs, c.baselines, space.masks, space.m, space.b), z)


class ShapleyKernelWeights:
    """KernelSHAP's weights: ``inf_weight`` for the all-on / all-off coalitions, else 1."""

    def __init__(self, inf_weight: float) -> None:
        self.inf_weight = inf_weight

    def __call__(self, space: Space, z: Tensor) -> Tensor:
        return shapley_kernel_weights(z, self.inf_weight)


class FunctionWeights:
    """A user ``similarity_func(original, perturbed, interpretable_sample, **kwargs)``, called
    per sample on the model input ``from_interp_rep_transform`` makes of it (Captum's way)."""

    def __init__(self, similarity_func: Callable[..., Any], from_interp: Callable[..., Any]) -> None:
        self.func, self.from_interp = similarity_func, from_interp

    def __call__(self, space: Space, z: Tensor) -> Tensor:
        b, s, _ = z.shape
        w = torch.empty(b, s, dtype=torch.float64)
        for e, (inp, kw) in enumerate(space.examples()):
            for i in range(s):
                zi = z[e, i][None].long()
                sim = self.func(inp, self.from_interp(zi, inp, **kw), zi, **kw)
                w[e, i] = float(sim.flatten()[0]) if isinstance(sim, Tensor) else float(sim)
        return w


def fit_surrogate(model: Any, X: Tensor, y: Tensor, w: Tensor, efficiency: Any = None,
                  dtype: torch.dtype = torch.float64) -> Tensor:
    """Coefficients (B, M) of B problems X (B, S, M), y (B, S), w (B, S): batched for fastxai
    surrogates (``solve``), else one Captum ``Model.fit(DataLoader)`` + ``representation()``
    per problem. On one thread (LAPACK's bits depend on the thread count). Problems whose
    outputs hold NaN / Inf (let through by ``allow_non_finite``) get NaN coefficients."""
    X, y, w = X.detach(), y.detach(), w.detach()  # inputs may require grad (Captum's tests do)
    ok = torch.isfinite(y).all(1) & torch.isfinite(w).all(1)
    if not bool(ok.all()):
        coef = torch.full((X.shape[0], X.shape[2]), float("nan"), dtype=torch.float64, device=X.device)
        if bool(ok.any()):
            eff = None if efficiency is None else tuple(e[ok] for e in efficiency)
            coef[ok] = fit_surrogate(model, X[ok], y[ok], w[ok], eff, dtype).to(coef)
        return coef
    with single_threaded():
        if hasattr(model, "solve"):
            return model.solve(X, y, w, efficiency=efficiency, dtype=dtype)
        return _fit_captum_model(model, X, y, w)


def _fit_captum_model(model: Any, X: Tensor, y: Tensor, w: Tensor) -> Tensor:
    if not (hasattr(model, "fit") and hasattr(model, "representation")):
        raise InputError("interpretable_model must have fit(DataLoader) and representation() "
                         "(a captum Model), or be a fastxai LassoSurrogate / RidgeSurrogate / "
                         "LinearSurrogate")
    from torch.utils.data import DataLoader, TensorDataset

    coefs = []
    for b in range(X.shape[0]):
        ds = TensorDataset(X[b].float(), y[b].float(), w[b].float())
        model.fit(DataLoader(ds, batch_size=X.shape[1]))
        coefs.append(model.representation().reshape(-1).to(X.device))
    return torch.stack(coefs)


def efficiency_targets(X: Tensor, Y: Tensor) -> Tuple[Tensor, Tensor]:
    """(f_empty (B,), f_full (B,)) from the all-off / all-on coalitions among X (B, S, M)."""
    full = X.sum(-1) == X.shape[-1]
    empty = X.sum(-1) == 0
    if not (bool(full.any(1).all()) and bool(empty.any(1).all())):
        raise InputError("constraint=True needs the all-on and all-off coalitions: use n_samples >= 2")
    return (Y * empty).sum(1) / empty.sum(1), (Y * full).sum(1) / full.sum(1)


def fit_interpretable(forward_func: Callable[..., Any], space: Space, initial: Tensor, n_samples: int,
                      sampler: Callable[[Space, int], Tensor], weights: Callable[[Space, Tensor], Tensor],
                      surrogate: Any, constraint: bool = False) -> Tensor:
    """Draw, evaluate, weight and fit: the (B, M) surrogate coefficients, in the output's
    float dtype (float64 for float64 outputs, else float32)."""
    call = space.call
    z = sampler(space, n_samples)  # (S, B, M)
    with single_threaded():  # bmm's bits may depend on the thread count
        w = weights(space, z.transpose(0, 1))
    plan = CoalitionPlan(z.shape[0], lambda p0, p1: z[p0:p1], space.masks, call.baselines)
    store = OutputStore(z.shape[0], initial)
    with torch.no_grad():
        run_call(forward_func, call, plan, store, initial)
    y = store.values
    out_dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    X = z.transpose(0, 1).to(torch.float64)  # (B, S, M)
    Y = y.reshape(z.shape[0], space.b).T.to(torch.float64)
    eff = efficiency_targets(X, Y) if constraint else None
    # the samplers already stepped the global RNG past each fit (Captum's order): a Captum
    # Model's real fits must not consume it again
    rng = torch.get_rng_state()
    try:
        coef = fit_surrogate(surrogate, X, Y, w.to(device=X.device, dtype=torch.float64), eff, out_dtype)
    finally:
        torch.set_rng_state(rng)
    return coef.to(out_dtype)


def problem_count(initial: Tensor, n: int, ppe: Optional[int]) -> int:
    """B: one surrogate per example (N outputs), or one for the batch (a forward returning
    one value per batch, which needs ``perturbations_per_eval`` 1 or None, as in Captum)."""
    o = initial.numel()
    if o == n:
        return n
    if o == 1:
        if ppe not in (None, 1):
            raise InputError("perturbations_per_eval must be 1 when forward function "
                             "returns single value per batch!")
        return 1
    raise InputError(
        "Invalid number of outputs, forward function should return a scalar per "
        f"example or a scalar per input batch: got {o} values for {n} examples "
        "(pass a target to select one output per example)")


def interpretable_attribution(
    forward_func: Callable[..., Any], call: Any, default_mask: bool, n_samples: int,
    sampler: Callable[[Space, int], Tensor], weights: Callable[[Space, Tensor], Tensor], surrogate: Any,
    constraint: bool = False, extra: Optional[Callable[[int], Dict[str, Any]]] = None,
    return_input_shape: bool = True,
) -> Any:
    """The whole surrogate method on a call record: the interpretable space from the record's
    feature masks (Captum's numbering; ``default_mask`` = the user gave none), the unperturbed
    forward, :func:`fit_interpretable`, and the (B, M) coefficients spread onto the inputs
    ((O, *S) per input) unless ``return_input_shape`` is False. ``extra(M)``: the method's
    kwargs for user callbacks."""
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise InputError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if call.target.multi:
        raise InputError("target: Lime / KernelShap explain one target per example; "
                         "call once per target column")
    masks, m = interpretable_ids(call.feature_masks, default_mask, call.inputs)
    initial = initial_for(forward_func, call)
    b = problem_count(initial, call.n, call.options.perturbations_per_eval)
    space = Space(call, masks, m, b, extra(m) if extra is not None else None)
    coef = fit_interpretable(forward_func, space, initial, n_samples, sampler, weights, surrogate, constraint)
    if not return_input_shape:
        return coef
    return scatter_feature_values(coef, masks, None, call.n, call.inputs)
