"""Neuron family: attributions of one neuron of an internal layer to the inputs (Captum 0.9
names). The selector is Captum's: an int, a tuple of ints / slices, or a callable."""
from fastxai._captum.attribution import NeuronAttribution
from fastxai.attr.neuron.deep_lift import NeuronDeepLift, NeuronDeepLiftShap
from fastxai.attr.neuron.gradient import NeuronDeconvolution, NeuronGradient, NeuronGuidedBackprop
from fastxai.attr.neuron.gradient_shap import NeuronGradientShap
from fastxai.attr.neuron.integrated_gradients import NeuronConductance, NeuronIntegratedGradients

__all__ = [
    "NeuronAttribution",
    "NeuronConductance",
    "NeuronDeconvolution",
    "NeuronDeepLift",
    "NeuronDeepLiftShap",
    "NeuronGradient",
    "NeuronGradientShap",
    "NeuronGuidedBackprop",
    "NeuronIntegratedGradients",
]
