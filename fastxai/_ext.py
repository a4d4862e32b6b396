"""Loads the compiled CPU kernels (``fastxai._C``) if they were built.

``HAS_CPP`` tells whether they are present; without them every op runs its torch path
and a single warning at import says so (the package stays usable).
"""
from __future__ import annotations

import warnings
from types import ModuleType
from typing import Optional

import torch

_C: Optional[ModuleType]
try:
    from fastxai import _C  # type: ignore[attr-defined,no-redef]
except ImportError as exc:  # pragma: no cover - exercised by faking the import in tests
    _C = None
    warnings.warn(
        f"fastxai._C (the compiled C++ CPU kernels) is not available ({exc}); "
        "CPU ops fall back to their slower torch implementations. "
        "Reinstall with `pip install -e .` and a C++17 compiler to build it.",
        RuntimeWarning,
        stacklevel=2,
    )

HAS_CPP: bool = _C is not None


def cpp() -> ModuleType:
    """The compiled module with its OpenMP thread count synced to ``torch.get_num_threads()``."""
    if _C is None:
        raise RuntimeError("fastxai._C is not built; backend 'cpp' is unavailable")
    _C.set_num_threads(torch.get_num_threads())
    return _C
