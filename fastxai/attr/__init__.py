"""Captum-compatible attribution methods: ``from fastxai.attr import IntegratedGradients``.

Perturbation family (this module's engine): FeatureAblation, Occlusion, FeaturePermutation, RISE.
"""
from fastxai._captum.attribution import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    PerturbationAttribution,
)
from fastxai.attr.feature_ablation import FeatureAblation
from fastxai.attr.feature_permutation import FeaturePermutation
from fastxai.attr.occlusion import Occlusion
from fastxai.attr.rise import RISE

__all__ = [
    "Attribution",
    "GradientAttribution",
    "LayerAttribution",
    "PerturbationAttribution",
    "FeatureAblation",
    "FeaturePermutation",
    "Occlusion",
    "RISE",
]
