"""Layer family: attributions to (or through) an internal layer (Captum 0.9 names)."""
from fastxai.attr.layer.activation import LayerActivation
from fastxai.attr.layer.conductance import LayerConductance
from fastxai.attr.layer.deep_lift import LayerDeepLift, LayerDeepLiftShap
from fastxai.attr.layer.gradient_shap import LayerGradientShap
from fastxai.attr.layer.gradient_x_activation import LayerGradientXActivation
from fastxai.attr.layer.integrated_gradients import LayerIntegratedGradients
from fastxai.attr.layer.internal_influence import InternalInfluence
from fastxai.attr.layer.lrp import LayerLRP

__all__ = [
    "InternalInfluence",
    "LayerActivation",
    "LayerConductance",
    "LayerDeepLift",
    "LayerDeepLiftShap",
    "LayerGradientShap",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "LayerLRP",
]
