"""LIME and KernelSHAP, Captum 0.9-compatible, batched: coalitions for every example are
drawn at once, all perturbed rows of all examples go through the engine in memory-sized
chunks, and one surrogate per example is fitted for all examples at once on the device
(:mod:`fastxai.engine.surrogate`). Captum runs a separate sequential loop with one-row
forwards and a scikit-learn fit per example.

Defaults match Captum: Lime = Bernoulli(0.5) coalitions, exponential kernel on the cosine
distance (width 1), Lasso(alpha=0.01); KernelShap = Shapley-kernel coalitions (all-on and
all-off first, weight 1e6), linear regression. User-supplied ``interpretable_model``,
``similarity_func`` and ``perturb_func`` keep working (then per example / per sample, as in
Captum); ``LimeBase`` keeps Captum's generic transform-based contract.
"""
from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import baseline_tensor
from fastxai._captum.masks import normalise_ids, scatter_feature_values
from fastxai.attr._sampling.plan import CoalitionPlan, OutputStore, evaluate_coalitions
from fastxai.attr._sampling.samplers import kernel_shap_coalitions, lime_coalitions
from fastxai.engine import surrogate
from fastxai.engine.ordered import single_threaded
from fastxai.engine.perturb import initial_for, run_call
from fastxai.ops.captum_draws import captum_fit_draw, captum_kernel_shap_distribution


# ----------------------------------------------------------------------------- surrogates
class LassoSurrogate:
    """Batched on-device Lasso (sklearn ``Lasso(alpha)`` objective with sample weights)."""

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = alpha

    def solve(self, X: Tensor, y: Tensor, w: Tensor, **_: Any) -> Tensor:
        return surrogate.lasso(X, y, w, alpha=self.alpha)[0]


class RidgeSurrogate:
    """Closed-form batched ridge (sklearn ``Ridge(alpha)`` with sample weights)."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def solve(self, X: Tensor, y: Tensor, w: Tensor, **_: Any) -> Tensor:
        return surrogate.ridge(X, y, w, alpha=self.alpha)[0]


class LinearSurrogate:
    """Batched weighted least squares (sklearn ``LinearRegression``); ``efficiency`` =
    (f_empty, f_full) per problem for the exactly efficiency-constrained fit.

    ``precision="auto"`` fits in the model output's precision: float32 outputs are fitted as
    scikit-learn fits Captum's float32 data (what ``SkLearnLinearRegression`` computes, to
    float32 round-off), float64 outputs in float64. ``"float64"`` always solves accurately.
    """

    def __init__(self, precision: str = "auto") -> None:
        if precision not in ("auto", "float32", "float64"):
            raise InputError(f"precision must be 'auto', 'float32' or 'float64', got {precision!r}")
        self.precision = precision

    def solve(self, X: Tensor, y: Tensor, w: Tensor, efficiency: Any = None,
              dtype: torch.dtype = torch.float64, **_: Any) -> Tensor:
        single = self.precision == "float32" or (self.precision == "auto" and dtype != torch.float64)
        prec = torch.float32 if single else torch.float64
        return surrogate.weighted_least_squares(X, y, w, efficiency=efficiency, precision=prec)[0]


def _fit(model: Any, X: Tensor, y: Tensor, w: Tensor, efficiency: Any = None,
         dtype: torch.dtype = torch.float64) -> Tensor:
    """Coefficients (B, M) for B problems: batched for fastxai surrogates, else one Captum-style
    ``Model.fit(DataLoader)`` + ``representation()`` per problem (as Captum does). ``dtype``:
    the model output's dtype. Runs on one thread (LAPACK's bits depend on the thread count)."""
    ok = torch.isfinite(y).all(1) & torch.isfinite(w).all(1)
    if not bool(ok.all()):  # NaN / Inf outputs let through by allow_non_finite(): NaN fits
        coef = torch.full((X.shape[0], X.shape[2]), float("nan"), dtype=torch.float64, device=X.device)
        if bool(ok.any()):
            eff = None if efficiency is None else tuple(e[ok] for e in efficiency)
            coef[ok] = _fit(model, X[ok], y[ok], w[ok], eff, dtype).to(coef)
        return coef
    with single_threaded():
        return _fit_any(model, X, y, w, efficiency, dtype)


def _fit_any(model: Any, X: Tensor, y: Tensor, w: Tensor, efficiency: Any,
             dtype: torch.dtype) -> Tensor:
    if hasattr(model, "solve"):
        return model.solve(X, y, w, efficiency=efficiency, dtype=dtype)
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


def _fit_replayed(model: Any, X: Tensor, y: Tensor, w: Tensor, efficiency: Any = None,
                  dtype: torch.dtype = torch.float64) -> Tensor:
    """:func:`_fit` for Lime / KernelShap, whose samplers already advanced the global RNG past
    each per-example fit (:func:`fastxai.ops.captum_draws.captum_fit_draw`): a Captum ``Model``'s real fits
    must not consume it a second time, or the next call would start from another state than
    after Captum's call (LimeBase, which does not replay, uses :func:`_fit` directly)."""
    rng_state = torch.get_rng_state()
    try:
        return _fit(model, X, y, w, efficiency=efficiency, dtype=dtype)
    finally:
        torch.set_rng_state(rng_state)


# ------------------------------------------------------------- Captum's default functions
class _ExpKernel:
    """``exp(-d^2 / (2 width^2))`` on the cosine or euclidean distance between the flattened
    original and perturbed inputs (Captum's ``get_exp_kernel_similarity_function``)."""

    def __init__(self, distance_mode: str = "cosine", kernel_width: float = 1.0) -> None:
        if distance_mode not in ("cosine", "euclidean"):
            raise ValueError("distance_mode must be either cosine or euclidean.")
        self.distance_mode = distance_mode
        self.kernel_width = kernel_width

    def __call__(self, original_inp: Any, perturbed_inp: Any, _: Any, **kwargs: Any) -> float:
        a = torch.cat([t.flatten() for t in (original_inp if isinstance(original_inp, tuple) else (original_inp,))]).float()
        b = torch.cat([t.flatten() for t in (perturbed_inp if isinstance(perturbed_inp, tuple) else (perturbed_inp,))]).float()
        if self.distance_mode == "cosine":
            d = 1 - torch.nn.functional.cosine_similarity(a, b, dim=0)
        else:
            d = torch.norm(a - b)
        return math.exp(-1 * (d ** 2) / (2 * (self.kernel_width ** 2)))

    def batched(self, sums: Dict[str, Tensor], z: Tensor) -> Tensor:
        """Similarities for coalitions z (B, S, M) from per-feature sums (B, M) of x*x, x*b,
        b*b and (x-b)^2: the exact kernel without building the perturbed inputs."""
        zf = z.to(torch.float64)
        off = 1.0 - zf
        if self.distance_mode == "cosine":
            dot = zf @ sums["xx"][..., None] + off @ sums["xb"][..., None]
            vv = zf @ sums["xx"][..., None] + off @ sums["bb"][..., None]
            nx = sums["xx"].sum(-1)[:, None, None].sqrt()
            cos = dot / (nx * vv.clamp_min(0).sqrt()).clamp_min(1e-8)
            d = 1 - cos.squeeze(-1)
        else:
            d = (off @ sums["dd"][..., None]).squeeze(-1).clamp_min(0).sqrt()
        return torch.exp(-(d ** 2) / (2 * self.kernel_width ** 2))


def get_exp_kernel_similarity_function(distance_mode: str = "cosine", kernel_width: float = 1.0) -> Callable[..., float]:
    """Captum's exponential-kernel similarity (recognised by Lime's batched path)."""
    return _ExpKernel(distance_mode, kernel_width)


def default_perturb_func(original_inp: Any, **kwargs: Any) -> Tensor:
    """Captum's default Lime sampler: ``torch.bernoulli(0.5)`` over the M features, (1, M) long."""
    device = (original_inp if isinstance(original_inp, Tensor) else original_inp[0]).device
    probs = torch.ones(1, int(kwargs["num_interp_features"])) * 0.5
    return torch.bernoulli(probs).to(device=device).long()


def default_from_interp_rep_transform(curr_sample: Tensor, original_inputs: Any, **kwargs: Any) -> Any:
    """Interpretable (1, M) sample -> model input: feature on = input, off = baseline."""
    fm, bl = kwargs["feature_mask"], kwargs["baselines"]
    if isinstance(fm, Tensor):
        on = curr_sample[0][fm].bool()
        return on.to(original_inputs.dtype) * original_inputs + (~on).to(original_inputs.dtype) * bl
    return tuple(curr_sample[0][fm[j]].bool().to(original_inputs[j].dtype) * original_inputs[j]
                 + (~curr_sample[0][fm[j]].bool()).to(original_inputs[j].dtype) * bl[j]
                 for j in range(len(fm)))


def interpretable_ids(masks: Tuple[Tensor, ...], default: bool,
                      inputs: Tuple[Tensor, ...]) -> Tuple[Tuple[Tensor, ...], int]:
    """Captum's rule for an interpretable space: the default mask (``default``) gives one
    feature per scalar; user ids are shifted to start at 0 (with a warning); M = max id + 1."""
    if default:
        return masks, int(sum(x[0].numel() for x in inputs))
    return normalise_ids(masks, "feature_mask")


# --------------------------------------------------------------------------- LimeBase
class _ListPlan:
    """Engine plan over precomputed perturbed model inputs (LimeBase's generic path)."""

    def __init__(self, samples: List[Tuple[Tensor, ...]]) -> None:
        self.samples = samples
        self.n_perturbations = len(samples)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        return tuple(torch.cat(parts, dim=0) for parts in zip(*self.samples[p0:p1]))


class LimeBase(PerturbationAttribution):
    """Captum's generic LIME: ``perturb_func`` draws samples (interpretable ones when
    ``perturb_interpretable_space``, else model inputs), the transforms map between the spaces,
    ``similarity_func`` weights them, ``interpretable_model`` is fitted. The forwards are
    batched on the engine; returns the surrogate's coefficients (``representation()``)."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        interpretable_model: Any,
        similarity_func: Callable[..., Any],
        perturb_func: Callable[..., Any],
        perturb_interpretable_space: bool,
        from_interp_rep_transform: Optional[Callable[..., Any]],
        to_interp_rep_transform: Optional[Callable[..., Any]],
    ) -> None:
        super().__init__(forward_func)
        self.interpretable_model = interpretable_model
        self.similarity_func = similarity_func
        self.perturb_func = perturb_func
        self.perturb_interpretable_space = perturb_interpretable_space
        self.from_interp_rep_transform = from_interp_rep_transform
        self.to_interp_rep_transform = to_interp_rep_transform
        if perturb_interpretable_space and from_interp_rep_transform is None:
            raise InputError("from_interp_rep_transform: must provide the transform from "
                             "interpretable space to original input space when sampling "
                             "from interpretable space")
        if not perturb_interpretable_space and to_interp_rep_transform is None:
            raise InputError("to_interp_rep_transform: must provide the transform from "
                             "original input space to interpretable space")

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    def _generator(self, inputs: Any, **kwargs: Any) -> Callable[[], Tuple[Any, Any]]:
        gen = self.perturb_func(inputs, **kwargs) if inspect.isgeneratorfunction(self.perturb_func) else None

        def draw() -> Tuple[Any, Any]:
            sample = next(gen) if gen is not None else self.perturb_func(inputs, **kwargs)
            if self.perturb_interpretable_space:
                return sample, self.from_interp_rep_transform(sample, inputs, **kwargs)
            return self.to_interp_rep_transform(sample, inputs, **kwargs), sample

        return draw

    @log_usage
    def attribute(
        self,
        inputs: Any,
        target: Any = None,
        additional_forward_args: Any = None,
        n_samples: int = 50,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        **kwargs: Any,
    ) -> Tensor:
        """Fit the surrogate on ``n_samples`` perturbations of ``inputs`` (one example, or a
        batch whose forward returns one scalar). Returns the coefficients, (1, M)."""
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        call = normalize_call(
            inputs, target=target, additional_forward_args=additional_forward_args,
            perturbations_per_eval=perturbations_per_eval, max_batch=max_batch,
            max_memory=max_memory, show_progress=show_progress, desc=f"{self.get_name()} attribution",
        )
        device = call.device
        draw = self._generator(inputs, **kwargs)
        interp, model_inps, sims = [], [], []
        for _ in range(n_samples):
            try:
                z, mi = draw()
            except StopIteration:
                warnings.warn("Generator completed prior to given n_samples iterations!", stacklevel=2)
                break
            interp.append(z)
            model_inps.append(mi if isinstance(mi, tuple) else (mi,))
            sim = self.similarity_func(inputs, mi, z, **kwargs)
            sims.append(sim.flatten().to(device) if isinstance(sim, Tensor) else torch.tensor([float(sim)], device=device))
        initial = initial_for(self.forward_func, call)
        if initial.numel() != 1:
            raise InputError("Number of outputs is not appropriate, must return one output per "
                             "perturbed input (LimeBase explains one example, or a forward that "
                             "returns one scalar per batch)")
        store = OutputStore(len(model_inps))
        run_call(self.forward_func, call, _ListPlan(model_inps), store, initial)
        X = torch.cat([z.reshape(1, -1) for z in interp]).to(device=device, dtype=torch.float64)
        y = store.values.reshape(1, -1).to(torch.float64)
        w = torch.cat(sims).reshape(1, -1).to(device=device, dtype=torch.float64)
        coef = _fit(self.interpretable_model, X[None] if X.dim() == 2 else X, y, w)
        return coef.reshape(1, -1).float()


# ------------------------------------------------------------------------------- Lime
class Lime(LimeBase):
    """LIME (Ribeiro et al. 2016) with Captum 0.9's defaults, batched over examples.

    ``attribute(inputs (N, ...), baselines, target, additional_forward_args, feature_mask,
    n_samples=25, perturbations_per_eval=None, return_input_shape=True, show_progress=False,
    *, seed=None, max_batch=None, max_memory=None)`` -> attributions shaped like the inputs, or
    (N, M) coefficients with ``return_input_shape=False`` ((1, ...) / (1, M) when the forward
    returns one scalar per batch).

    ``interpretable_model``: None = batched on-device ``LassoSurrogate(alpha=0.01)``
    (Captum's ``SkLearnLasso(alpha=0.01)``); ``RidgeSurrogate(alpha)`` for the closed-form
    ridge; any Captum ``Model`` is fitted per example.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        interpretable_model: Any = None,
        similarity_func: Optional[Callable[..., Any]] = None,
        perturb_func: Optional[Callable[..., Any]] = None,
    ) -> None:
        LimeBase.__init__(
            self,
            forward_func,
            LassoSurrogate(0.01) if interpretable_model is None else interpretable_model,
            get_exp_kernel_similarity_function() if similarity_func is None else similarity_func,
            default_perturb_func if perturb_func is None else perturb_func,
            True,
            default_from_interp_rep_transform,
            None,
        )

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: Optional[int] = None,
        return_input_shape: bool = True,
        show_progress: bool = False,
        *,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """LIME attributions; see the class docstring. ``seed=None`` draws Captum's
        ``torch.bernoulli`` samples from the global RNG; ``seed=int`` uses Philox."""
        return self._attribute_kwargs(
            inputs, baselines, target, additional_forward_args, feature_mask, n_samples,
            perturbations_per_eval, return_input_shape, show_progress, seed, max_batch, max_memory)

    # hooks overridden by KernelShap ------------------------------------------------
    def _fast_coalitions(self, n_samples: int, b: int, m: int, device: torch.device,
                         seed: Optional[int]) -> Optional[Tensor]:
        if self.perturb_func is default_perturb_func:
            return lime_coalitions(n_samples, b, m, device, seed)
        return None

    def _fast_weights(self, z: Tensor, sums: Callable[[], Dict[str, Tensor]]) -> Optional[Tensor]:
        if isinstance(self.similarity_func, _ExpKernel):
            return self.similarity_func.batched(sums(), z)
        return None

    def _extra_kwargs(self, m: int) -> Dict[str, Any]:
        return {}

    def _efficiency(self, z: Tensor, y: Tensor) -> Any:
        return None

    # ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _attribute_kwargs(self, inputs, baselines, target, additional_forward_args, feature_mask,
                          n_samples, perturbations_per_eval, return_input_shape, show_progress,
                          seed, max_batch, max_memory):
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
            raise InputError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        inputs_t, is_tuple, bl = call.inputs, call.is_tuple, call.captum_baselines
        masks, m = interpretable_ids(call.feature_masks, feature_mask is None, inputs_t)
        device, n = call.device, call.n
        if call.target.multi:
            raise InputError("target: Lime / KernelShap explain one target per example; "
                             "call once per target column")
        initial = initial_for(self.forward_func, call)
        o = initial.numel()
        if o == n:
            b = n  # one surrogate per example
        elif o == 1:
            b = 1  # one surrogate for the whole batch (forward returns a scalar per batch)
            if perturbations_per_eval not in (None, 1):
                raise InputError("perturbations_per_eval must be 1 when forward function "
                                 "returns single value per batch!")
        else:
            raise InputError(
                "Invalid number of outputs, forward function should return a scalar per "
                f"example or a scalar per input batch: got {o} values for {n} examples "
                "(pass a target to select one output per example)")

        z = self._fast_coalitions(n_samples, b, m, device, seed)
        ex_kwargs = None
        if z is None:
            ex_kwargs = self._example_kwargs(inputs_t, is_tuple, bl, masks, m, b)
            z = self._python_coalitions(n_samples, b, ex_kwargs, device)
        n_s = z.shape[0]

        def sums() -> Dict[str, Tensor]:
            return _feature_sums(inputs_t, bl, masks, m, b)

        with single_threaded():  # bmm's bits may depend on the thread count
            w = self._fast_weights(z.transpose(0, 1), sums)
        if w is None:
            if ex_kwargs is None:
                ex_kwargs = self._example_kwargs(inputs_t, is_tuple, bl, masks, m, b)
            w = self._python_weights(z, ex_kwargs)

        plan = CoalitionPlan(n_s, lambda p0, p1: z[p0:p1], masks, bl)
        with torch.no_grad():
            y = evaluate_coalitions(self.forward_func, inputs_t, call.target, call.additional_args,
                                    plan, initial, call.options)
        out_dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
        X = z.transpose(0, 1).to(torch.float64)  # (B, S, M)
        Y = y.reshape(n_s, b).T.to(torch.float64)
        coef = _fit_replayed(self.interpretable_model, X, Y, w.to(device=X.device, dtype=torch.float64),
                             efficiency=self._efficiency(X, Y), dtype=out_dtype)
        coef = coef.to(out_dtype)
        if not return_input_shape:
            return coef
        return format_result(call, scatter_feature_values(coef, masks, None, n, inputs_t))

    # ------------------------------------------------------- user-function (slow) paths
    def _example_kwargs(self, inputs_t, is_tuple, bl, masks, m, b) -> List[Dict[str, Any]]:
        """Per problem: (original inputs in the user's form, kwargs Captum passes along)."""
        out = []
        n = inputs_t[0].shape[0]
        for e in range(b):
            sl = slice(e, e + 1) if b > 1 else slice(0, n)
            xs = tuple(x[sl] for x in inputs_t)
            bs = tuple(bb[sl] if isinstance(bb, Tensor) and bb.dim() > 0 and bb.shape[0] == n and b > 1 else bb
                       for bb in bl)
            ms = tuple(mk[sl] if mk.shape[0] == n and b > 1 else mk for mk in masks)
            kw = dict(baselines=bs if is_tuple else bs[0], feature_mask=ms if is_tuple else ms[0],
                      num_interp_features=m, **self._extra_kwargs(m))
            out.append({"inputs": xs if is_tuple else xs[0], "kwargs": kw})
        return out

    def _python_coalitions(self, n_samples, b, ex_kwargs, device) -> Tensor:
        per = []
        for e in range(b):
            inp, kw = ex_kwargs[e]["inputs"], ex_kwargs[e]["kwargs"]
            gen = self.perturb_func(inp, **kw) if inspect.isgeneratorfunction(self.perturb_func) else None
            rows = []
            for _ in range(n_samples):
                try:
                    rows.append((next(gen) if gen is not None else self.perturb_func(inp, **kw)).reshape(-1))
                except StopIteration:
                    warnings.warn("Generator completed prior to given n_samples iterations!", stacklevel=3)
                    break
            per.append(torch.stack(rows).to(device))
            captum_fit_draw(int(kw['num_interp_features']))
        s = min(r.shape[0] for r in per)
        return torch.stack([r[:s] for r in per], dim=1).bool()

    def _python_weights(self, z: Tensor, ex_kwargs) -> Tensor:
        s, b, _ = z.shape
        w = torch.empty(b, s, dtype=torch.float64)
        for e in range(b):
            inp, kw = ex_kwargs[e]["inputs"], ex_kwargs[e]["kwargs"]
            for i in range(s):
                zi = z[i, e][None].long()
                pert = self.from_interp_rep_transform(zi, inp, **kw)
                sim = self.similarity_func(inp, pert, zi, **kw)
                w[e, i] = float(sim.flatten()[0]) if isinstance(sim, Tensor) else float(sim)
        return w


def _feature_sums(inputs_t, bl, masks, m, b) -> Dict[str, Tensor]:
    """Per problem and feature: sums of x*x, x*b, b*b, (x-b)^2 over the feature's elements,
    (B, M) float64 (B = N, or 1 summing over the batch)."""
    n = inputs_t[0].shape[0]
    dev = inputs_t[0].device
    out = {k: torch.zeros(n, m, dtype=torch.float64, device=dev) for k in ("xx", "xb", "bb", "dd")}
    for x, bb, mk in zip(inputs_t, bl, masks):
        xf = x.to(torch.float32).to(torch.float64).reshape(n, -1)
        bt = torch.broadcast_to(baseline_tensor(bb, x), x.shape).to(torch.float32).to(torch.float64).reshape(n, -1)
        idx = torch.broadcast_to(mk, x.shape).reshape(n, -1)
        for k, v in (("xx", xf * xf), ("xb", xf * bt), ("bb", bt * bt), ("dd", (xf - bt) ** 2)):
            out[k].scatter_add_(1, idx, v)
    if b == 1 and n > 1:
        out = {k: v.sum(0, keepdim=True) for k, v in out.items()}
    return out


# -------------------------------------------------------------------------- KernelShap
class KernelShap(Lime):
    """KernelSHAP (Lundberg & Lee 2017) as Captum 0.9 computes it, batched over examples.

    ``attribute(inputs, baselines, target, additional_forward_args, feature_mask,
    n_samples=25, perturbations_per_eval=None, return_input_shape=True, show_progress=False,
    *, seed=None, constraint=False, paired=False, max_batch=None, max_memory=None)``.

    ``constraint=True``: exact efficiency (attributions sum to f(x) - f(baseline)), intercept
    fixed to f(baseline). ``paired=True``: antithetic sampling (each random coalition followed
    by its complement). ``seed=int``: Philox coalitions instead of Captum's global-RNG draws.
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        Lime.__init__(
            self,
            forward_func,
            interpretable_model=LinearSurrogate(),
            similarity_func=self.kernel_shap_similarity_kernel,
            perturb_func=self.kernel_shap_perturb_generator,
        )
        self.inf_weight = 1000000.0
        self._constraint = False
        self._paired = False

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: Optional[int] = None,
        return_input_shape: bool = True,
        show_progress: bool = False,
        *,
        seed: Optional[int] = None,
        constraint: bool = False,
        paired: bool = False,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """KernelSHAP attributions; see the class docstring."""
        self._constraint, self._paired = constraint, paired
        try:
            return self._attribute_kwargs(
                inputs, baselines, target, additional_forward_args, feature_mask, n_samples,
                perturbations_per_eval, return_input_shape, show_progress, seed, max_batch,
                max_memory)
        finally:
            self._constraint, self._paired = False, False

    def _fast_coalitions(self, n_samples, b, m, device, seed):
        if self.perturb_func == self.kernel_shap_perturb_generator:
            if m < 2:
                raise InputError(f"KernelShap needs at least 2 interpretable features, got {m}; "
                                 "with one feature its attribution is f(x) - f(baseline)")
            return kernel_shap_coalitions(n_samples, b, m, device, seed, self._paired)
        return None

    def _fast_weights(self, z, sums):
        if self.similarity_func == self.kernel_shap_similarity_kernel:
            cnt = z.sum(-1)
            big = (cnt == 0) | (cnt == z.shape[-1])
            return torch.where(big, self.inf_weight, 1.0).to(torch.float64)
        return None

    def _extra_kwargs(self, m: int) -> Dict[str, Any]:
        return {"num_select_distribution": captum_kernel_shap_distribution(m)}

    def _efficiency(self, X: Tensor, Y: Tensor) -> Any:
        if not self._constraint:
            return None
        full = X.sum(-1) == X.shape[-1]
        empty = X.sum(-1) == 0
        if not (bool(full.any(1).all()) and bool(empty.any(1).all())):
            raise InputError("constraint=True needs the all-on and all-off coalitions: use n_samples >= 2")
        f_full = (Y * full).sum(1) / full.sum(1)
        f_empty = (Y * empty).sum(1) / empty.sum(1)
        return (f_empty, f_full)

    def kernel_shap_similarity_kernel(self, _: Any, __: Any, interpretable_sample: Tensor, **kwargs: Any) -> Tensor:
        """Captum's KernelShap weight: 1e6 for the all-on / all-off sample, else 1."""
        k = int(interpretable_sample.sum(dim=1).item())
        m = kwargs["num_interp_features"]
        return torch.tensor([self.inf_weight if k == 0 or k == m else 1.0])

    def kernel_shap_perturb_generator(self, original_inp: Any, **kwargs: Any) -> Generator[Tensor, None, None]:
        """Captum's KernelShap sampler (all-on, all-off, then Shapley-kernel sizes)."""
        device = (original_inp if isinstance(original_inp, Tensor) else original_inp[0]).device
        m = int(kwargs["num_interp_features"])
        yield torch.ones(1, m, device=device, dtype=torch.long)
        yield torch.zeros(1, m, device=device, dtype=torch.long)
        while True:
            k = kwargs["num_select_distribution"].sample()
            vals = torch.randn(1, m)
            thr = torch.kthvalue(vals, m - k).values.item()
            yield (vals > thr).to(device=device).long()
