"""Captum-compatible metrics: ``infidelity``, ``sensitivity_max`` (+ ``avg_sensitivity``)."""
from fastxai.metrics.infidelity import infidelity, infidelity_perturb_func_decorator
from fastxai.metrics.sensitivity import avg_sensitivity, default_perturb_func, sensitivity_max

__all__ = ["infidelity", "infidelity_perturb_func_decorator", "sensitivity_max", "avg_sensitivity",
           "default_perturb_func"]
