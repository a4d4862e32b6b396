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
from fastxai.attr._sampling import *  # noqa: F401,F403
from fastxai.attr._sampling import __all__ as _sampling_all
from fastxai.attr.feature_ablation import FeatureAblation
from fastxai.attr.feature_permutation import FeaturePermutation
from fastxai.attr.occlusion import Occlusion
from fastxai.attr.rise import RISE

__all__ = sorted(
    {
        "Attribution",
        "GradientAttribution",
        "LayerAttribution",
        "PerturbationAttribution",
        "FeatureAblation",
        "FeaturePermutation",
        "Occlusion",
        "RISE",
        *_gradient_all,
        *_sampling_all,
    }
)
