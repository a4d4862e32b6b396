"""Sampling-based attribution: Shapley value sampling, exact Shapley values, KernelSHAP, LIME,
plus superpixel feature masks and the batched surrogate models they fit."""
from fastxai.attr.sampling.kernel_shap import KernelShap
from fastxai.attr.sampling.lime import Lime, LimeBase, get_exp_kernel_similarity_function
from fastxai.attr.sampling.shapley import ShapleyValues, ShapleyValueSampling
from fastxai.attr.sampling.superpixels import superpixel_mask
from fastxai.attr.sampling.surrogates import LassoSurrogate, LinearSurrogate, RidgeSurrogate

__all__ = [
    "KernelShap",
    "LassoSurrogate",
    "Lime",
    "LimeBase",
    "LinearSurrogate",
    "RidgeSurrogate",
    "ShapleyValueSampling",
    "ShapleyValues",
    "get_exp_kernel_similarity_function",
    "superpixel_mask",
]
