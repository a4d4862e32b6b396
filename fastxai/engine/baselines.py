"""Baseline helpers shared by the gradient methods, checked once: Captum's callable baselines,
baseline *distributions* (GradientShap, DeepLiftShap, NoiseTunnel's
``draw_baseline_from_distrib``), and Captum's ``_expand_partial`` (targets, tensor args,
baselines and feature masks repeated per sample, example-major).
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.draws import STREAM_ALPHA, STREAM_BASELINE, seeded_normal, seeded_uniform
from fastxai.engine.forward import expand_additional_args
from fastxai.engine.targets import expand_target


def callable_baselines(baselines: Any, inputs: Any) -> Any:
    """Captum's ``_format_callable_baseline``: call it (with ``inputs`` if it takes arguments)."""
    if callable(baselines):
        if len(inspect.signature(baselines).parameters) == 0:
            return baselines()
        return baselines(inputs)
    return baselines


def baseline_distribution(baselines: Any, inputs: Any, name: str, need_rows: int = 1) -> Any:
    """A baseline distribution (M, ...) (or a tuple of them, as given) after calling a
    callable; raises Captum's errors when it is not a tensor (``need_rows``: the fewest rows M
    it must have)."""
    bl = callable_baselines(baselines, inputs)
    bl_t = bl if isinstance(bl, tuple) else (bl,)
    if not isinstance(bl_t[0], Tensor) and need_rows <= 1:
        raise InputError(
            f"Baselines distribution has to be provided in a form of a torch.Tensor {bl_t[0]}."
        )
    if not isinstance(bl_t[0], Tensor) or bl_t[0].shape[0] < need_rows:
        raise InputError(
            "Baselines distribution has to be provided in form of a torch.Tensor with more "
            f"than one example but found: {bl_t[0]}. If baselines are provided in shape of "
            f"scalars or with a single baseline example, `{name}` approach can be used instead."
        )
    return bl


def format_baselines_distrib(baselines: Any, inputs: Tuple[Tensor, ...], from_distrib: bool) -> Tuple[Any, ...]:
    """Baselines as a tuple; with ``from_distrib`` any first dim is allowed (a distribution)."""
    if baselines is None:
        return tuple(0 for _ in inputs)
    tup = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(tup) != len(inputs):
        raise InputError(
            f"baselines must have one entry per input tensor: got {len(tup)} for {len(inputs)} inputs"
        )
    for i, (b, x) in enumerate(zip(tup, inputs)):
        if isinstance(b, Tensor) and b.dim() > 0 and b.numel() > 1:
            if tuple(b.shape[1:]) != tuple(x.shape[1:]):
                raise InputError(
                    f"baselines[{i}] has shape {tuple(b.shape)} but input {i} has shape "
                    f"{tuple(x.shape)}: the dims after the first must match"
                )
            if not from_distrib and b.shape[0] not in (1, x.shape[0]):
                raise InputError(
                    f"baselines[{i}] has {b.shape[0]} rows; expected 1 or {x.shape[0]} "
                    "(or set draw_baseline_from_distrib=True)"
                )
    return tup


def _draw_baselines(bl: Tuple[Any, ...], n: int, bsz: int, seed: Optional[int], sample0: int) -> Tuple[Any, ...]:
    """One baseline row per (example, sample): Captum's numpy draws, or Philox with a seed."""
    new = []
    idx_shared = None
    for b in bl:
        if not isinstance(b, Tensor):
            new.append(b)
            continue
        if seed is None:
            idx = np.random.choice(b.shape[0], n * bsz).tolist()
        else:
            if idx_shared is None:
                u = seeded_uniform(seed, bsz, n, STREAM_BASELINE, b.device, sample0)
                idx_shared = (u * b.shape[0]).long().clamp_max(b.shape[0] - 1).reshape(-1)
            idx = idx_shared
        new.append(b[idx])
    return tuple(new)


def expand_kwargs(
    kwargs: Dict[str, Any], inputs: Tuple[Tensor, ...], n: int, from_distrib: bool,
    seed: Optional[int] = None, sample0: int = 0,
) -> Dict[str, Any]:
    """Captum's ``_expand_partial``: targets, tensor args (a tuple, as a CallRecord holds
    them), baselines and feature masks repeated ``n`` times example-major (baselines drawn per
    row when ``from_distrib``)."""
    out = dict(kwargs)
    if out.get("additional_forward_args") is not None:
        # already a tuple: the caller's CallRecord formatted it
        out["additional_forward_args"] = expand_additional_args(out["additional_forward_args"], n, interleave=True)
    if "target" in out:
        out["target"] = expand_target(out["target"], n, interleave=True)
    if "baselines" in out:
        bl = format_baselines_distrib(out["baselines"], inputs, from_distrib)
        if from_distrib:
            out["baselines"] = _draw_baselines(bl, n, inputs[0].shape[0], seed, sample0)
        else:
            out["baselines"] = tuple(
                b.repeat_interleave(n, dim=0)
                if isinstance(b, Tensor) and b.shape[0] == x.shape[0] and b.shape[0] > 1 else b
                for x, b in zip(inputs, bl)
            )
    if "feature_mask" in out and out["feature_mask"] is not None:
        fm = out["feature_mask"]
        fm_t = fm if isinstance(fm, tuple) else (fm,)
        fm_t = tuple(m.repeat_interleave(n, dim=0) if m.size(0) > 1 else m for m in fm_t)
        out["feature_mask"] = fm_t if isinstance(fm, tuple) else fm_t[0]
    return out


def shap_draws(xs: Tuple[Tensor, ...], baselines: Any, target: Any, additional_args: Optional[Tuple[Any, ...]], k: int,
               stdevs: Tuple[float, ...], seed: Optional[int]) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...], Tensor, Any, Any]:
    """Captum's GradientShap draws for N*k rows, example-major (row = n * k + s): noisy inputs,
    baselines (one per row, or broadcastable), path points alpha (N*k,), targets and args."""
    n = xs[0].shape[0]
    with torch.no_grad():
        kw = expand_kwargs({"baselines": baselines, "target": target,
                            "additional_forward_args": additional_args}, xs, k, True, seed, 0)
        noisy = []
        for i, (x, sd) in enumerate(zip(xs, stdevs)):
            if seed is None:
                size = (n * k,) + tuple(x.shape[1:])
                noise = torch.normal(0, torch.tensor(sd, device=x.device).repeat(size))
            else:
                noise = seeded_normal(seed, x, k, i, float(sd))
            noisy.append(x.detach().repeat_interleave(k, dim=0) + noise)
        if seed is None:
            alpha = torch.tensor(np.random.uniform(0.0, 1.0, n * k), device=xs[0].device, dtype=xs[0].dtype)
        else:
            alpha = seeded_uniform(seed, n, k, STREAM_ALPHA, xs[0].device).reshape(-1).to(xs[0].dtype)
        bases = tuple(
            b.to(dtype=x.dtype, device=x.device) if isinstance(b, Tensor)
            else torch.full((1,) * x.dim(), float(b), dtype=x.dtype, device=x.device)
            for b, x in zip(kw["baselines"], noisy)
        )
    return tuple(noisy), bases, alpha, kw["target"], kw["additional_forward_args"]
