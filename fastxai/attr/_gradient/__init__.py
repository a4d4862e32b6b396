"""Gradient, activation, relevance and attention attribution methods."""
from fastxai.attr._gradient.gradient_shap import GradientShap
from fastxai.attr._gradient.integrated_gradients import IntegratedGradients
from fastxai.attr._gradient.noise_tunnel import NoiseTunnel
from fastxai.attr._gradient.saliency import InputXGradient, Saliency

__all__ = ["GradientShap", "InputXGradient", "IntegratedGradients", "NoiseTunnel", "Saliency"]
