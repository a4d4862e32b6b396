"""LIME, Captum 0.9-compatible and batched: ``LimeBase`` (Captum's generic transform-based
contract) and ``Lime`` (Captum's defaults: Bernoulli(0.5) coalitions, exponential kernel on
the cosine distance, Lasso(alpha=0.01)).

Coalitions for every example are drawn at once, all perturbed rows of all examples go through
the engine in memory-sized chunks, and one surrogate per example is fitted for all examples
at once on the device. Captum runs a separate sequential loop with one-row forwards and a
scikit-learn fit per example. User-supplied ``interpretable_model``, ``similarity_func`` and
``perturb_func`` keep working (then per example / per sample, as in Captum).
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai.attr.sampling.surrogates import LassoSurrogate
from fastxai.engine.interpretable import (
    ExpKernelWeights,
    FunctionSampler,
    FunctionWeights,
    LimeSampler,
    fit_surrogate,
    interpretable_attribution,
)
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.plans import ListPlan
from fastxai.engine.reducers import OutputStore
from fastxai.engine.similarity import ExpKernel, get_exp_kernel_similarity_function

__all__ = ["Lime", "LimeBase", "default_from_interp_rep_transform", "default_perturb_func",
           "get_exp_kernel_similarity_function"]


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
        store = OutputStore(len(model_inps), initial)
        run_call(self.forward_func, call, ListPlan(model_inps), store, initial)
        X = torch.cat([z.reshape(1, -1) for z in interp]).to(device=device, dtype=torch.float64)
        y = store.values.reshape(1, -1).to(torch.float64)
        w = torch.cat(sims).reshape(1, -1).to(device=device, dtype=torch.float64)
        coef = fit_surrogate(self.interpretable_model, X[None] if X.dim() == 2 else X, y, w)
        return coef.reshape(1, -1).float()


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
        ``torch.bernoulli`` samples from the global RNG; ``seed=int`` uses Philox.

        A composition: a coalition sampler (Bernoulli(0.5), or the user's ``perturb_func``),
        a similarity (Captum's exponential kernel, batched, or the user's
        ``similarity_func``) and the ``interpretable_model`` fit, run by
        :func:`fastxai.engine.interpretable.interpretable_attribution`.
        """
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        sampler = (LimeSampler(seed) if self.perturb_func is default_perturb_func
                   else FunctionSampler(self.perturb_func))
        weights = (ExpKernelWeights(self.similarity_func) if isinstance(self.similarity_func, ExpKernel)
                   else FunctionWeights(self.similarity_func, self.from_interp_rep_transform))
        out = interpretable_attribution(self.forward_func, call, feature_mask is None, n_samples, sampler,
                                        weights, self.interpretable_model,
                                        return_input_shape=return_input_shape)
        return format_result(call, out) if return_input_shape else out
