"""Differential wrappers for scripts/captum_dropin.py's ``diff`` variant (copied there as
``_dropin_diff.py``; not imported by fastxai).

``_dropin_diff.<Name>`` subclasses Captum's ``captum.attr.<Name>`` and builds fastxai's
``fastxai.attr.<Name>`` from the same arguments. Each ``attribute`` call runs Captum, then
fastxai from the same torch / numpy / random state, compares structure, shape, dtype, values
(rtol 1e-4, atol 1e-5 x the largest |value| of Captum's result) and the RNG state each leaves,
appends one row to ``$DROPIN_DIFF_LOG`` and returns Captum's result, so the test itself
judges Captum and the log judges fastxai against Captum call by call.
"""
from __future__ import annotations

import json
import os
import random

import captum.attr as _ca
import numpy as np
import torch

import fastxai.attr as _fa

_LOG = os.environ.get("DROPIN_DIFF_LOG")


def _states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _set_states(s) -> None:
    torch.set_rng_state(s[0])
    np.random.set_state(s[1])
    random.setstate(s[2])


def _same_states(a, b) -> bool:
    return (torch.equal(a[0], b[0]) and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))
            and a[2] == b[2])


def _to_fx(obj):
    """Constructor arguments: a wrapped instance becomes its fastxai twin."""
    if isinstance(obj, _Diff):
        return obj._fx
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_fx(o) for o in obj)
    return obj


def _compare(ref, got, path="out"):
    """(ok, reason, max abs difference) for nested tensors / tuples / lists / numbers."""
    if isinstance(ref, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(ref) != len(got):
            return False, f"{path}: structure {type(ref).__name__}[{len(ref)}] vs {type(got).__name__}", None
        worst = (True, "", 0.0)
        for i, (r, g) in enumerate(zip(ref, got)):
            res = _compare(r, g, f"{path}[{i}]")
            if not res[0]:
                return res
            worst = max(worst, res, key=lambda x: x[2] or 0.0)
        return worst
    if isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return False, f"{path}: tensor vs {type(got).__name__}", None
        if ref.shape != got.shape:
            return False, f"{path}: shape {tuple(ref.shape)} vs {tuple(got.shape)}", None
        r, g = ref.detach().double().cpu(), got.detach().double().cpu()
        diff = float((r - g).abs().nan_to_num(0.0).max()) if r.numel() else 0.0
        scale = float(r.abs().nan_to_num(0.0).max()) if r.numel() else 0.0
        if not torch.allclose(r, g, rtol=1e-4, atol=1e-5 * max(scale, 1e-30), equal_nan=True):
            return False, f"{path}: values (max |diff| {diff:.3g}, max |captum| {scale:.3g})", diff
        if ref.dtype != got.dtype:
            return False, f"{path}: dtype {ref.dtype} vs {got.dtype}", diff
        return True, "", diff
    if isinstance(ref, (int, float)) and isinstance(got, (int, float, torch.Tensor)):
        ok = abs(float(ref) - float(got)) <= 1e-4 * max(1.0, abs(float(ref)))
        return ok, "" if ok else f"{path}: {ref} vs {float(got)}", abs(float(ref) - float(got))
    return (True, "", 0.0) if type(ref) is type(got) else (
        False, f"{path}: {type(ref).__name__} vs {type(got).__name__}", None)


def _log(row: dict) -> None:
    if _LOG:
        row["test"] = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
        with open(_LOG, "a") as fh:
            fh.write(json.dumps(row) + "\n")


class _Diff:
    _fx_cls = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self._fx = self._fx_cls(*_to_fx(args), **{k: _to_fx(v) for k, v in kwargs.items()})
        except Exception as exc:  # recorded per call
            self._fx = exc

    def attribute(self, *args, **kwargs):
        before = _states()
        ref = super().attribute(*args, **kwargs)
        after = _states()
        row = {"cls": type(self).__name__}
        if isinstance(self._fx, Exception):
            row.update(ok=False, reason=f"fastxai init: {type(self._fx).__name__}: {self._fx}"[:300])
        else:
            _set_states(before)
            try:
                got = self._fx.attribute(*args, **kwargs)
                ok, reason, diff = _compare(ref, got)
                rng = _same_states(after, _states())
                row.update(ok=ok and rng, reason=reason or ("" if rng else "RNG state differs"),
                           max_diff=diff)
            except Exception as exc:
                row.update(ok=False, reason=f"fastxai raised {type(exc).__name__}: {exc}"[:300])
            _set_states(after)
        _log(row)
        return ref

    # Captum's NoiseTunnel calls ``attribution_method.attribute.__wrapped__(self, ...)``
    # (the function under its usage-logging decorator).
    attribute.__wrapped__ = attribute


def _make(name: str):
    cap, fx = getattr(_ca, name), getattr(_fa, name)
    return type(name, (_Diff, cap), {"_fx_cls": fx, "__module__": __name__})


for _name in dir(_fa):
    if isinstance(getattr(_fa, _name), type) and hasattr(_ca, _name) \
            and hasattr(getattr(_fa, _name), "attribute"):
        globals()[_name] = _make(_name)
