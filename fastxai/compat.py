"""Confirm the Captum -> fastxai swap on your own model: ``fastxai.compat.check``.

``check("IntegratedGradients", model, x, target=3)`` builds the method from ``captum.attr`` and
from ``fastxai.attr`` with the same constructor arguments, runs both on the same inputs (the
same seed before each call, for sampling methods), and reports the largest absolute and
relative difference of every returned tensor and the speed ratio from interleaved repeats
(Captum and fastxai alternate, so drifting machine load hits both alike). ``fastxai compat``
is the command-line form.

Uses only the public APIs of both libraries.
"""
from __future__ import annotations

import difflib
import math
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor


class CaptumNotInstalled(ImportError):
    """Captum is needed for a parity check and is not importable."""


@dataclass
class CompatReport:
    """Result of :func:`check`.

    ``max_abs_diff``: max |fastxai - captum| over every returned tensor; ``max_rel_diff``: max of
    |fastxai - captum| / max(|captum|, atol) (element-wise, floored at ``atol`` so zeros do not
    explode it); ``close``: every element within ``atol + rtol * |captum|`` and the same shapes;
    ``captum_seconds`` / ``fastxai_seconds``: median seconds per call over ``repeats``
    interleaved calls; ``speedup`` = captum_seconds / fastxai_seconds."""

    method: str
    close: bool
    max_abs_diff: float
    max_rel_diff: float
    captum_seconds: float
    fastxai_seconds: float
    speedup: float
    repeats: int
    shapes: List[Tuple[int, ...]] = field(default_factory=list)
    mismatch: Optional[str] = None
    rtol: float = 1e-4
    atol: float = 1e-5
    captum_version: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """The report as a JSON-friendly dict."""
        return asdict(self)

    def __str__(self) -> str:
        verdict = "same numbers" if self.close else "DIFFERENT numbers"
        lines = [f"{self.method}: {verdict} (rtol={self.rtol:g}, atol={self.atol:g}) vs captum {self.captum_version}",
                 f"  max |diff| {self.max_abs_diff:.3e}   max relative diff {self.max_rel_diff:.3e}"
                 f"   shapes {self.shapes}"]
        if self.mismatch:
            lines.append(f"  mismatch: {self.mismatch}")
        lines.append(f"  captum {self.captum_seconds * 1e3:.2f} ms   fastxai {self.fastxai_seconds * 1e3:.2f} ms   "
                     f"speedup x{self.speedup:.2f}   (median of {self.repeats} interleaved calls)")
        return "\n".join(lines)


def _captum_attr() -> Any:
    try:
        import captum
        import captum.attr as captum_attr
    except ImportError as err:
        raise CaptumNotInstalled(
            "Captum is not installed, so there is nothing to compare fastxai with: "
            "pip install captum==0.9.0 (fastxai's parity target), then run the check again") from err
    return captum_attr


def _captum_version() -> str:
    import captum

    return str(getattr(captum, "__version__", ""))


def method_names() -> List[str]:
    """Attribution classes present in both ``fastxai.attr`` and ``captum.attr`` that take
    ``attribute(inputs, ...)`` (DataLoaderAttribution takes a DataLoader: see its tests)."""
    import fastxai.attr as fa

    captum_attr = _captum_attr()
    names = []
    for name in sorted(set(getattr(captum_attr, "__all__", dir(captum_attr))) & set(dir(fa))):
        obj = getattr(fa, name)
        if isinstance(obj, type) and hasattr(obj, "attribute") and name != "DataLoaderAttribution":
            names.append(name)
    return names


def _resolve(name: str) -> Tuple[Any, Any]:
    """(fastxai class, captum class) for ``name``; unknown names raise with a suggestion."""
    known = method_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown method {name!r}{hint} (methods in both libraries: {', '.join(known)})")
    import fastxai.attr as fa

    return getattr(fa, name), getattr(_captum_attr(), name)


def _build(spec: str, model: Any, init_kwargs: Dict[str, Any]) -> Tuple[Any, Any]:
    """Both libraries' instances of ``spec``: ``Name`` or ``Wrapper(Inner)`` (e.g.
    ``NoiseTunnel(IntegratedGradients)``), ``init_kwargs`` going to the innermost method."""
    m = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*(.+?)\s*\))?\s*", spec)
    if m is None:
        raise ValueError(f"method: expected 'Name' or 'Wrapper(Name)', got {spec!r}")
    outer, inner = m.group(1), m.group(2)
    if inner is None:
        ours, theirs = _resolve(outer)
        return ours(model, **init_kwargs), theirs(model, **init_kwargs)
    inner_ours, inner_theirs = _build(inner, model, init_kwargs)
    ours, theirs = _resolve(outer)
    return ours(inner_ours), theirs(inner_theirs)


def _tensors(result: Any) -> List[Tensor]:
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in _tensors(item)]
    if isinstance(result, (int, float)):
        return [torch.tensor(float(result))]
    raise TypeError(f"attribute returned {type(result).__name__}, not tensors")


def _compare(ours: List[Tensor], theirs: List[Tensor], rtol: float, atol: float) -> Tuple[bool, float, float, Optional[str]]:
    """(close, max abs diff, max relative diff, mismatch message or None)."""
    if len(ours) != len(theirs):
        return False, math.inf, math.inf, f"fastxai returned {len(ours)} tensors, captum {len(theirs)}"
    close, max_abs, max_rel = True, 0.0, 0.0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a.shape != b.shape:
            return False, math.inf, math.inf, f"tensor {i}: fastxai shape {tuple(a.shape)}, captum {tuple(b.shape)}"
        a64, b64 = a.detach().to(torch.float64).cpu(), b.detach().to(torch.float64).cpu()
        if a64.numel() == 0:
            continue
        same = (a64 == b64) | (torch.isnan(a64) & torch.isnan(b64))  # equal infinities and NaN pairs agree
        diff = torch.where(same, torch.zeros_like(a64), (a64 - b64).abs().nan_to_num(nan=math.inf))
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float((diff / b64.abs().nan_to_num(nan=math.inf).clamp(min=atol)).max()))
        close = close and bool((same | (diff <= atol + rtol * b64.abs())).all())
    return close, max_abs, max_rel, None


def _seed_all(seed: int) -> None:
    """The same torch, numpy and Python RNG state before each call (Captum draws from all three)."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _timed(fn: Callable[[], Any], sync: bool) -> Tuple[float, Any]:
    if sync:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if sync:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def check(
    method_name: str,
    model: Any,
    inputs: Any,
    *,
    repeats: int = 5,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    init_kwargs: Optional[Dict[str, Any]] = None,
    fastxai_kwargs: Optional[Dict[str, Any]] = None,
    **kwargs: Any,
) -> CompatReport:
    """Run ``method_name`` from Captum and from fastxai on ``model`` and ``inputs``; compare.

    Args:
        method_name: a class name in both ``captum.attr`` and ``fastxai.attr``
            (``"IntegratedGradients"``), or ``"Wrapper(Inner)"`` (``"NoiseTunnel(Saliency)"``).
        model: the model or forward function (put it in ``eval()`` mode first).
        inputs: a tensor (N, ...) or a tuple of them, as ``attribute`` takes.
        repeats: timed calls per library (interleaved), after one untimed call each whose
            results are compared.
        rtol, atol: the tolerance of ``close``.
        seed: torch, numpy and Python RNGs seeded with it before every call (sampling
            methods draw alike).
        init_kwargs: constructor arguments besides the model (``layer=model.conv2``).
        fastxai_kwargs: extra ``attribute`` arguments for fastxai only (``max_batch``).
        **kwargs: ``attribute`` arguments for both (``target``, ``baselines``, ...).

    Raises:
        CaptumNotInstalled: Captum cannot be imported.
        ValueError: unknown method (with a did-you-mean) or ``repeats`` < 1.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    _captum_attr()
    ours, theirs = _build(method_name, model, dict(init_kwargs or {}))
    extra = dict(fastxai_kwargs or {})
    sync = torch.cuda.is_available() and any(t.is_cuda for t in _tensors(inputs))

    def run_captum() -> Any:  # noqa: D401 - local
        _seed_all(seed)
        return theirs.attribute(inputs, **kwargs)

    def run_fastxai() -> Any:
        _seed_all(seed)
        return ours.attribute(inputs, **kwargs, **extra)

    ref = _timed(run_captum, sync)[1]
    got = _timed(run_fastxai, sync)[1]
    close, max_abs, max_rel, mismatch = _compare(_tensors(got), _tensors(ref), rtol, atol)
    times_c, times_f = [], []
    for r in range(repeats):
        order = (run_captum, run_fastxai) if r % 2 == 0 else (run_fastxai, run_captum)
        for fn in order:
            (times_c if fn is run_captum else times_f).append(_timed(fn, sync)[0])
    med_c, med_f = statistics.median(times_c), statistics.median(times_f)
    return CompatReport(
        method=method_name, close=close, max_abs_diff=max_abs, max_rel_diff=max_rel, captum_seconds=med_c,
        fastxai_seconds=med_f, speedup=med_c / med_f if med_f > 0 else math.inf, repeats=repeats,
        shapes=[tuple(t.shape) for t in _tensors(ref)], mismatch=mismatch, rtol=rtol, atol=atol,
        captum_version=_captum_version(),
    )


__all__ = ["check", "CompatReport", "CaptumNotInstalled", "method_names"]
