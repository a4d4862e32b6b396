"""Perturbation methods: FeatureAblation, Occlusion, FeaturePermutation, DataLoaderAttribution (Captum 0.9),
RISE."""
from fastxai.attr.perturbation.dataloader_attr import DataLoaderAttribution
from fastxai.attr.perturbation.feature_ablation import FeatureAblation
from fastxai.attr.perturbation.feature_permutation import FeaturePermutation
from fastxai.attr.perturbation.occlusion import Occlusion
from fastxai.attr.perturbation.rise import RISE

__all__ = ["DataLoaderAttribution", "FeatureAblation", "FeaturePermutation", "Occlusion", "RISE"]
