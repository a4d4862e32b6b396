"""fastxai: a batched, Captum-compatible attribution and evaluation engine for PyTorch.

``import fastxai`` works without a GPU, without Triton and without the compiled
extension ``fastxai._C`` (then a warning says which CPU kernels fall back to torch).
"""
from fastxai._version import __version__
from fastxai.backends import active_backends, use_backend
from fastxai.engine.checks import allow_non_finite

__all__ = ["__version__", "active_backends", "allow_non_finite", "use_backend"]
