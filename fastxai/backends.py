"""The one dispatch point for kernel backends.

Backends: ``torch`` (reference, everywhere), ``cpp`` (compiled ``fastxai._C``, CPU tensors),
``triton`` (CUDA tensors; also CPU tensors when ``TRITON_INTERPRET=1`` and explicitly asked for).
The choice is made per call from, in order: ``use_backend(...)`` context, the
``FASTXAI_BACKEND`` environment variable, then ``auto``. ``auto`` picks the fastest available
backend for the tensor's device and falls back quietly; an explicit request that cannot be
met raises. The last choice per op is recorded in ``last_backend`` for profiles and tests.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
from typing import Dict, Iterator, List

import torch

from fastxai import _ext

BACKENDS = ("torch", "cpp", "triton")
_state = threading.local()
last_backend: Dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    """True when the ``triton`` package can be imported (Linux). Cached: a file-system probe."""
    return importlib.util.find_spec("triton") is not None


def triton_interpreter() -> bool:
    """True when Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def active_backends() -> Dict[str, bool]:
    """Which backends can run here: torch, cpp, triton-gpu, triton-interpreter."""
    has_triton = triton_available()
    return {
        "torch": True,
        "cpp": _ext.HAS_CPP,
        "triton-gpu": has_triton and torch.cuda.is_available(),
        "triton-interpreter": has_triton and triton_interpreter(),
    }


def requested_backend() -> str:
    """The backend asked for by context manager or ``FASTXAI_BACKEND`` (default ``auto``)."""
    stack: List[str] = getattr(_state, "stack", [])
    if stack:
        return stack[-1]
    return os.environ.get("FASTXAI_BACKEND", "auto").strip().lower() or "auto"


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force a backend (``auto``, ``torch``, ``cpp``, ``triton``) inside a ``with`` block."""
    name = name.lower()
    if name not in BACKENDS + ("auto",):
        raise ValueError(f"backend must be one of {BACKENDS + ('auto',)}, got {name!r}")
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def select(op: str, device: torch.device, has_cpp: bool = True, has_triton: bool = True) -> str:
    """Pick the backend for ``op`` on ``device``; records the choice in ``last_backend``.

    ``has_cpp`` / ``has_triton`` say whether the op has an implementation for that backend.
    """
    want = requested_backend()
    cpp_ok = has_cpp and _ext.HAS_CPP and device.type == "cpu"
    triton_ok = has_triton and triton_available() and (
        device.type == "cuda" or (device.type == "cpu" and triton_interpreter())
    )
    if want == "auto":
        if device.type == "cuda" and triton_ok:
            choice = "triton"
        elif cpp_ok:
            choice = "cpp"
        else:
            choice = "torch"
    elif want == "torch":
        choice = "torch"
    elif want == "cpp":
        if not cpp_ok:
            raise RuntimeError(
                f"backend 'cpp' requested for {op} but it cannot run here "
                f"(compiled module present: {_ext.HAS_CPP}, device: {device}, op has cpp: {has_cpp})"
            )
        choice = "cpp"
    elif want == "triton":
        if not triton_ok:
            raise RuntimeError(
                f"backend 'triton' requested for {op} but it cannot run here (device {device}; "
                "on CPU set TRITON_INTERPRET=1 before importing triton)"
            )
        choice = "triton"
    else:
        raise ValueError(f"FASTXAI_BACKEND must be one of {BACKENDS + ('auto',)}, got {want!r}")
    last_backend[op] = choice
    return choice
