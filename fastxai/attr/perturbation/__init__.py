"""Perturbation methods: FeatureAblation, Occlusion, FeaturePermutation, DataLoaderAttribution (Captum 0.9),
RISE, the layer variants LayerFeatureAblation, LayerFeaturePermutation and NeuronFeatureAblation."""
from fastxai.attr.perturbation.dataloader_attr import DataLoaderAttribution
from fastxai.attr.perturbation.feature_ablation import FeatureAblation
from fastxai.attr.perturbation.feature_permutation import FeaturePermutation
from fastxai.attr.perturbation.layer_feature_ablation import LayerFeatureAblation
from fastxai.attr.perturbation.layer_feature_permutation import LayerFeaturePermutation
from fastxai.attr.perturbation.neuron_feature_ablation import NeuronFeatureAblation
from fastxai.attr.perturbation.occlusion import Occlusion
from fastxai.attr.perturbation.rise import RISE

__all__ = ["DataLoaderAttribution", "FeatureAblation", "FeaturePermutation", "LayerFeatureAblation",
           "LayerFeaturePermutation", "NeuronFeatureAblation", "Occlusion", "RISE"]
