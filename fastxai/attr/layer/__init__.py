"""Layer family: attributions to (or through) an internal layer (Captum 0.9 names)."""
from fastxai.attr.layer.activation import LayerActivation
from fastxai.attr.layer.conductance import LayerConductance
from fastxai.attr.layer.gradient_x_activation import LayerGradientXActivation
from fastxai.attr.layer.integrated_gradients import LayerIntegratedGradients

__all__ = [
    "LayerActivation",
    "LayerConductance",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
]
