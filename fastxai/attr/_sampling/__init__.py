"""Sampling-based attribution: Shapley value sampling, exact Shapley values, KernelSHAP, LIME,
plus superpixel feature masks and the batched surrogate models they fit."""
from fastxai.attr._sampling.lime import (
    KernelShap,
    LassoSurrogate,
    Lime,
    LimeBase,
    LinearSurrogate,
    RidgeSurrogate,
    get_exp_kernel_similarity_function,
)
from fastxai.attr._sampling.shapley import ShapleyValueSampling, ShapleyValues
from fastxai.attr._sampling.superpixels import superpixel_mask

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
