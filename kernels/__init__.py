"""Triton kernels (installed as ``fastxai.kernels``). One op per file.

``HAS_TRITON`` is False when triton is not installed (non-Linux); then nothing here is
imported and fastxai uses its C++ / torch paths.
"""
import importlib.util

HAS_TRITON = importlib.util.find_spec("triton") is not None
