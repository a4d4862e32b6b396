"""KernelSHAP (Lundberg & Lee 2017) as Captum 0.9 computes it, batched over examples: Lime's
pipeline (:func:`fastxai.engine.interpretable.interpretable_attribution`) with KernelSHAP's
sampler, weights and linear surrogate. A :class:`~fastxai.attr.sampling.lime.Lime`, as in Captum."""
from __future__ import annotations

from typing import Any, Callable, Generator, Optional

import torch
from torch import Tensor

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai.attr.sampling.lime import Lime
from fastxai.attr.sampling.surrogates import LinearSurrogate
from fastxai.engine.interpretable import (
    FunctionSampler,
    FunctionWeights,
    KernelShapSampler,
    ShapleyKernelWeights,
    interpretable_attribution,
)
from fastxai.ops.captum_draws import captum_kernel_shap_distribution


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
        """KernelSHAP attributions; see the class docstring.

        Lime's pipeline with KernelSHAP's parts: Shapley-kernel coalitions (or the user's
        ``perturb_func``), KernelSHAP's weights (or the user's ``similarity_func``) and the
        ``interpretable_model`` (weighted least squares; with ``constraint`` the efficiency-
        constrained fit).
        """
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        sampler = (KernelShapSampler(seed, paired) if self.perturb_func == self.kernel_shap_perturb_generator
                   else FunctionSampler(self.perturb_func))
        weights = (ShapleyKernelWeights(self.inf_weight) if self.similarity_func == self.kernel_shap_similarity_kernel
                   else FunctionWeights(self.similarity_func, self.from_interp_rep_transform))
        out = interpretable_attribution(
            self.forward_func, call, feature_mask is None, n_samples, sampler, weights,
            self.interpretable_model, constraint=constraint, return_input_shape=return_input_shape,
            extra=lambda m: {"num_select_distribution": captum_kernel_shap_distribution(m)},
        )
        return format_result(call, out) if return_input_shape else out

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
