"""Gradient, activation, relevance and attention attribution methods (Captum 0.9 names where
Captum has the class; GradCAMPlusPlus, XGradCAM, EigenCAM, ScoreCAM and AttentionRollout beyond)."""
from fastxai._captum.attribution import LayerAttribution
from fastxai.attr._gradient.attention import AttentionRollout
from fastxai.attr._gradient.cams import EigenCAM, GradCAMPlusPlus, ScoreCAM, XGradCAM
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
    "Alpha1_Beta0_Rule",
    "AttentionRollout",
    "Deconvolution",
    "DeepLift",
    "DeepLiftShap",
    "EigenCAM",
    "EpsilonRule",
    "GammaRule",
    "GradCAMPlusPlus",
    "GradientShap",
    "GuidedBackprop",
    "GuidedGradCam",
    "IdentityRule",
    "InputXGradient",
    "IntegratedGradients",
    "LRP",
    "LayerActivation",
    "LayerAttribution",
    "LayerConductance",
    "LayerGradCam",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "NoiseTunnel",
    "PropagationRule",
    "Saliency",
    "ScoreCAM",
    "XGradCAM",
]
