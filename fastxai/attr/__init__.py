"""Captum-compatible attribution methods: ``from fastxai.attr import IntegratedGradients``.

* perturbation: FeatureAblation, Occlusion, FeaturePermutation, RISE
* sampling: ShapleyValueSampling, ShapleyValues, KernelShap, Lime, LimeBase (+ superpixel_mask)
* gradient / activation / relevance / attention: Saliency, InputXGradient, IntegratedGradients,
  GradientShap, NoiseTunnel, DeepLift, DeepLiftShap, GuidedBackprop, Deconvolution, LRP,
  LayerGradCam, GuidedGradCam, Layer*, GradCAMPlusPlus, XGradCAM, EigenCAM, ScoreCAM,
  AttentionRollout
"""
from fastxai._captum.attribution import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    PerturbationAttribution,
)
from fastxai.attr._gradient import *  # noqa: F401,F403
from fastxai.attr._gradient import __all__ as _gradient_all
from fastxai.attr.perturbation import *  # noqa: F401,F403
from fastxai.attr.perturbation import __all__ as _perturbation_all
from fastxai.attr.sampling import *  # noqa: F401,F403
from fastxai.attr.sampling import __all__ as _sampling_all

__all__ = sorted(
    {
        "Attribution",
        "GradientAttribution",
        "LayerAttribution",
        "PerturbationAttribution",
        *_perturbation_all,
        *_gradient_all,
        *_sampling_all,
    }
)
