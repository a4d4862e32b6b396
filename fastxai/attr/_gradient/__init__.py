"""Gradient, activation, relevance and attention attribution methods (Captum 0.9 names)."""
from fastxai._captum.attribution import LayerAttribution
from fastxai.attr._gradient.deep_lift import DeepLift, DeepLiftShap
from fastxai.attr._gradient.gradient_shap import GradientShap
from fastxai.attr._gradient.guided import Deconvolution, GuidedBackprop
from fastxai.attr._gradient.integrated_gradients import IntegratedGradients
from fastxai.attr._gradient.layer import (
    GuidedGradCam,
    LayerActivation,
    LayerConductance,
    LayerGradCam,
    LayerGradientXActivation,
    LayerIntegratedGradients,
)
from fastxai.attr._gradient.lrp import (
    LRP,
    Alpha1_Beta0_Rule,
    EpsilonRule,
    GammaRule,
    IdentityRule,
    PropagationRule,
)
from fastxai.attr._gradient.noise_tunnel import NoiseTunnel
from fastxai.attr._gradient.saliency import InputXGradient, Saliency

__all__ = [
    "Alpha1_Beta0_Rule", "Deconvolution", "DeepLift", "DeepLiftShap", "EpsilonRule", "GammaRule",
    "GradientShap", "GuidedBackprop", "GuidedGradCam", "IdentityRule", "InputXGradient",
    "IntegratedGradients", "LayerActivation", "LayerAttribution", "LayerConductance",
    "LayerGradCam", "LayerGradientXActivation", "LayerIntegratedGradients", "LRP", "NoiseTunnel",
    "PropagationRule", "Saliency",
]
