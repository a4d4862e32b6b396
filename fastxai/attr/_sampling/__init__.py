"""Sampling-based attribution: Shapley value sampling, exact Shapley values, KernelSHAP, LIME."""
from fastxai.attr._sampling.shapley import ShapleyValueSampling, ShapleyValues

__all__ = ["ShapleyValueSampling", "ShapleyValues"]
