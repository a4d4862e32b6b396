"""Shared checks: the preflight every method runs before its first forward, and the one rule
for non-finite model outputs.

* :func:`preflight` (called for every ``attribute`` by the entry decorator
  :func:`fastxai._captum.attribution.log_usage`, before any forward):
  a batch of 0 examples raises an :class:`InputError` naming ``inputs``; BatchNorm layers in
  training mode raise (their output for one row depends on the other rows, so batching
  perturbations or steps would change the answer, and every forward would update their
  running statistics); Dropout and other stochastic modules in training mode give a warning
  naming them (an error under ``torch.use_deterministic_algorithms(True)``); ``max_batch``
  must be an integer >= 1 and ``max_memory`` at least one input row's bytes.
* :func:`check_finite` / :class:`FiniteFlags`: NaN or Inf in the selected model outputs
  raises :class:`NonFiniteOutputError` in the perturbation and the gradient loop alike; the
  one opt-out is the :func:`allow_non_finite` context.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any, Callable, Iterator, List, Optional, Sequence

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError, NonFiniteOutputError

_state = threading.local()

# Modules whose training-mode output is random: Dropout*, AlphaDropout, FeatureAlphaDropout
# (all _DropoutNd) and RReLU (a random negative slope in training).
STOCHASTIC_MODULES = (nn.modules.dropout._DropoutNd, nn.RReLU)


@contextlib.contextmanager
def allow_non_finite() -> Iterator[None]:
    """Let NaN / Inf model outputs through (they propagate into the attributions) instead of
    raising :class:`NonFiniteOutputError`; applies to every method inside the ``with``."""
    depth = getattr(_state, "allow", 0)
    _state.allow = depth + 1
    try:
        yield
    finally:
        _state.allow = depth


def non_finite_allowed() -> bool:
    """True inside :func:`allow_non_finite`."""
    return getattr(_state, "allow", 0) > 0


def _message(where: str) -> str:
    return (f"forward_func returned NaN or Inf for {where}; check the baselines or the model "
            "(wrap the call in fastxai.allow_non_finite() to let them through)")


def check_finite(out: Tensor, where: str) -> None:
    """Raise :class:`NonFiniteOutputError` if floating ``out`` holds NaN / Inf (one host sync)."""
    if non_finite_allowed() or not (out.is_floating_point() or out.is_complex()):
        return
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteOutputError(_message(where))


class FiniteFlags:
    """Device-side finite flags, one per chunk, read once at the end (no host sync per chunk).

    ``add(out, first, last)`` records chunk ``[first, last]`` (numbered in ``unit``s, e.g.
    perturbations or steps); :meth:`check` raises naming the first chunk that held NaN / Inf.
    """

    def __init__(self, unit: str, total: int) -> None:
        self.unit, self.total = unit, total
        self._flags: List[Tensor] = []
        self._spans: List[tuple] = []
        self.enabled = not non_finite_allowed()

    def add(self, out: Tensor, first: int, last: int) -> None:
        if self.enabled and (out.is_floating_point() or out.is_complex()):
            self._flags.append(torch.isfinite(out).all())
            self._spans.append((first, last))

    def check(self) -> None:
        if not self._flags:
            return
        ok = torch.stack(self._flags)
        if bool(ok.all()):
            return
        first, last = self._spans[int((~ok).nonzero()[0])]
        raise NonFiniteOutputError(_message(
            f"the {self.unit} chunk {first}..{last} ({self.unit}s are numbered 0..{self.total - 1})"))


def root_module(forward_func: Callable[..., Any]) -> Optional[nn.Module]:
    """The nn.Module behind ``forward_func`` (itself, or the owner of a bound method)."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def _training(forward_func: Callable[..., Any], kinds: tuple) -> List[str]:
    root = root_module(forward_func)
    if root is None:
        return []
    return [name or type(m).__name__ for name, m in root.named_modules()
            if isinstance(m, kinds) and m.training]


def batch_dependent_modules(forward_func: Callable[..., Any]) -> List[str]:
    """Names of modules whose output for one row depends on the other rows of the batch
    (BatchNorm in training mode), which would make packing rows change the answer."""
    return _training(forward_func, (nn.modules.batchnorm._BatchNorm,))


def stochastic_modules(forward_func: Callable[..., Any]) -> List[str]:
    """Names of modules that are random in training mode (Dropout family, RReLU) and are."""
    return _training(forward_func, STOCHASTIC_MODULES)


def check_model(forward_func: Callable[..., Any]) -> None:
    """BatchNorm in training mode: error. Stochastic modules in training mode: a warning
    naming them (an error when deterministic algorithms are requested)."""
    bad = batch_dependent_modules(forward_func)
    if bad:
        raise InputError(
            "forward_func has BatchNorm layers in training mode "
            f"({', '.join(bad[:5])}): their output for one row depends on the other rows of the "
            "batch, so batched perturbations would change the answer (and every forward would "
            "update their running statistics). Call model.eval() first."
        )
    rand = stochastic_modules(forward_func)
    if not rand:
        return
    msg = (f"forward_func has stochastic modules (dropout in training mode ({', '.join(rand[:5])})): "
           "every forward draws new random values, so the attributions are random too. Call "
           "model.eval() first (sampling dropout on purpose belongs in a seeded method).")
    if torch.are_deterministic_algorithms_enabled():
        raise InputError(msg + " torch.are_deterministic_algorithms_enabled() is True.")
    warnings.warn(msg, UserWarning, stacklevel=4)


def check_batch(inputs: Any) -> None:
    """A batch of 0 examples raises, naming ``inputs`` (the one answer for every method)."""
    first = inputs[0] if isinstance(inputs, tuple) and inputs else inputs
    if isinstance(first, Tensor) and first.dim() > 0 and first.shape[0] == 0:
        raise InputError(
            f"inputs has 0 examples (inputs[0] has shape {tuple(first.shape)}): every method needs "
            "at least one; skip empty batches before calling attribute"
        )


def row_bytes(inputs: Any) -> int:
    """Bytes of one input row: row 0 of every tensor of ``inputs`` (with a batch dim)."""
    tup = inputs if isinstance(inputs, tuple) else (inputs,)
    return sum(t[:1].numel() * t.element_size() for t in tup if isinstance(t, Tensor) and t.dim() > 0)


def check_caps(max_batch: Any, max_memory: Any, inputs: Any = None) -> None:
    """``max_batch``: None or an integer >= 1. ``max_memory``: None or an integer number of
    bytes, at least one input row (nothing smaller can be evaluated)."""
    for name, value, low in (("max_batch", max_batch, 1), ("max_memory", max_memory, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise InputError(f"{name} must be None or an integer >= {low}, got {value!r}")
    if max_memory is not None and inputs is not None:
        need = row_bytes(inputs)
        if max_memory < need:
            raise InputError(
                f"max_memory={max_memory} bytes is below one input row ({need} bytes): no forward "
                f"fits; pass max_memory >= {need}"
            )


def preflight(forward_func: Callable[..., Any], inputs: Any = None, max_batch: Any = None,
              max_memory: Any = None) -> None:
    """Every check that needs no forward: batch, caps, model state (see the module doc)."""
    check_batch(inputs)
    check_caps(max_batch, max_memory, inputs)
    check_model(forward_func)


def rows_per_step_error(max_batch: int, n: int, what: str) -> InputError:
    """The error for a ``max_batch`` below the N rows one step needs, where a step cannot be
    split (a forward that aggregates over the batch, inputs whose dim 0 is not the batch)."""
    return InputError(
        f"max_batch={max_batch} is below the {n} rows one {what} needs and this call cannot "
        f"split them; pass max_batch >= {n}"
    )


def check_masks_match_output(n: int, initial: Tensor, masks: Sequence[Tensor]) -> None:
    """Per-example feature masks (first dim N > 1) need per-example outputs.

    When the forward aggregates over the batch (its output's dim 0 is not N), there is no
    example to read a per-example mask against; Captum fails there with a shape error deep
    in its accumulation, fastxai says why up front (an ``InputError``, hence AssertionError).
    """
    per_example = [i for i, m in enumerate(masks) if m.dim() > 0 and m.shape[0] > 1]
    if per_example and (initial.dim() == 0 or initial.shape[0] != n):
        i = per_example[0]
        raise InputError(
            f"feature_mask[{i}] holds per-example ids (first dim {masks[i].shape[0]}) but "
            f"forward_func returns an output of shape {tuple(initial.shape)} that is not per "
            f"example (batch of {n}); give the mask a first dim of 1"
        )


def as_tuple(x: Any) -> Sequence[Any]:
    """``x`` as a tuple (a tuple stays itself)."""
    return x if isinstance(x, tuple) else (x,)
