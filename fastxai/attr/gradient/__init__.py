"""Gradient family: input gradients, path methods, backward-rule methods and NoiseTunnel
(Captum 0.9 names and class tree)."""
from fastxai.attr.gradient._common.lrp_rules import (
    Alpha1_Beta0_Rule,
    EpsilonRule,
    GammaRule,
    IdentityRule,
    PropagationRule,
)
from fastxai.attr.gradient.deep_lift import DeepLift, DeepLiftShap
from fastxai.attr.gradient.gradient_shap import GradientShap
from fastxai.attr.gradient.guided import Deconvolution, GuidedBackprop, ModifiedReluGradientAttribution
from fastxai.attr.gradient.integrated_gradients import IntegratedGradients
from fastxai.attr.gradient.lrp import LRP
from fastxai.attr.gradient.noise_tunnel import NoiseTunnel
from fastxai.attr.gradient.saliency import InputXGradient, Saliency

__all__ = [
    "Alpha1_Beta0_Rule",
    "Deconvolution",
    "DeepLift",
    "DeepLiftShap",
    "EpsilonRule",
    "GammaRule",
    "GradientShap",
    "GuidedBackprop",
    "IdentityRule",
    "InputXGradient",
    "IntegratedGradients",
    "LRP",
    "NoiseTunnel",
    "PropagationRule",
    "Saliency",
]
