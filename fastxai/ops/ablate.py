"""Materialising perturbed rows: feature-id ablation, box (window) occlusion and coalitions.

Each op replaces selected elements of each example by the baseline, for K perturbations at
once, writing a (K·N, *S) batch in Captum's perturbation-major layout. They copy elements
(a select, no arithmetic), so every dtype, bf16/fp16 included, is exact on every backend.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from fastxai import _ext, backends


def _full(t: Tensor, x: Tensor) -> Tensor:
    """Expand a (1|N, ...) broadcastable tensor to (1|N, *x.shape[1:]) contiguous."""
    lead = t.shape[0] if t.dim() == x.dim() else 1
    t = t.reshape((1,) * (x.dim() - t.dim()) + tuple(t.shape)) if t.dim() < x.dim() else t
    return t.expand((lead,) + tuple(x.shape[1:])).contiguous()


def _check_lead(t: Tensor, x: Tensor, name: str, op: str) -> None:
    """``t`` must broadcast to ``x`` with a first dim of 1 or N (when it has x's rank)."""
    n = x.shape[0]
    if t.dim() > x.dim():
        raise ValueError(f"{op}: {name} has {t.dim()} dims, more than x's {x.dim()}")
    if t.dim() == x.dim() and t.shape[0] not in (1, n):
        raise ValueError(f"{op}: {name} has first dim {t.shape[0]}; it must be 1 or N = {n}")
    try:
        torch.broadcast_shapes(tuple(t.shape), tuple(x.shape))
    except RuntimeError:
        raise ValueError(
            f"{op}: {name} of shape {tuple(t.shape)} does not broadcast to x of shape {tuple(x.shape)}"
        ) from None


def reference_ablate_by_id(x: Tensor, baseline: Tensor, mask: Tensor, ids: Tensor) -> Tensor:
    """out[k·N + n, e] = baseline[n|0, e] if mask[n|0, e] == ids[k] else x[n, e].

    Shapes: x (N, *S); baseline and mask broadcastable to x with first dim 1 or N; ids (K,).
    Returns (K·N, *S).
    """
    k = ids.numel()
    view = (k,) + (1,) * x.dim()
    hit = mask.unsqueeze(0) == ids.reshape(view).to(mask.device)
    out = torch.where(hit, baseline.to(x.dtype).unsqueeze(0), x.unsqueeze(0))
    out = out.expand((k,) + tuple(x.shape))
    return out.reshape((k * x.shape[0],) + tuple(x.shape[1:]))


def ablate_by_id(x: Tensor, baseline: Tensor, mask: Tensor, ids: Tensor) -> Tensor:
    """Dispatching version of :func:`reference_ablate_by_id` (same contract)."""
    _check_lead(baseline, x, "baseline", "ablate_by_id")
    _check_lead(mask, x, "mask", "ablate_by_id")
    if ids.dim() != 1:
        raise ValueError(f"ablate_by_id: ids must be (K,), got shape {tuple(ids.shape)}")
    backend = backends.select("ablate_by_id", x.device)
    if backend == "torch" or x.numel() == 0 or ids.numel() == 0:
        return reference_ablate_by_id(x, baseline, mask, ids)
    xc = x.contiguous()
    base = _full(baseline.to(x.dtype), x)
    m = _full(mask.to(torch.int64), x)
    ids64 = ids.to(device=x.device, dtype=torch.int64).contiguous()
    out = torch.empty((ids.numel() * x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    n, e = x.shape[0], x[0].numel()
    if backend == "cpp":
        _ext.cpp().ablate_by_id(
            out.data_ptr(), xc.data_ptr(), base.data_ptr(), m.data_ptr(), ids64.data_ptr(),
            ids.numel(), n, e, base.shape[0] == n and n > 1, m.shape[0] == n and n > 1,
            x.element_size(),
        )
    else:
        from fastxai.kernels.ablate import ablate_by_id as triton_ablate

        triton_ablate(out, xc, base, m, ids64, n, e)
    return out


def reference_occlude_boxes(x: Tensor, baseline: Tensor, starts: Tensor, window: Sequence[int]) -> Tensor:
    """out[k·N + n, e] = baseline[n|0, e] if e lies in box k else x[n, e].

    Box k covers ``[starts[k, d], starts[k, d] + window[d])`` along non-batch dim d (clipped
    to the input). Shapes: x (N, *S) with r = len(S) dims; starts (K, r) int; window (r,).
    """
    k = starts.shape[0]
    inside = torch.ones((k,) + tuple(x.shape[1:]), dtype=torch.bool, device=x.device)
    for d, size in enumerate(x.shape[1:]):
        pos = torch.arange(size, device=x.device)
        s = starts[:, d : d + 1].to(x.device)
        hit = (pos >= s) & (pos < s + window[d])  # (K, size)
        shape = [k] + [1] * (x.dim() - 1)
        shape[d + 1] = size
        inside = inside & hit.reshape(shape)
    out = torch.where(inside.unsqueeze(1), baseline.to(x.dtype).unsqueeze(0), x.unsqueeze(0))
    out = out.expand((k,) + tuple(x.shape))
    return out.reshape((k * x.shape[0],) + tuple(x.shape[1:]))


def occlude_boxes(x: Tensor, baseline: Tensor, starts: Tensor, window: Sequence[int]) -> Tensor:
    """Dispatching version of :func:`reference_occlude_boxes` (same contract)."""
    r = x.dim() - 1
    _check_lead(baseline, x, "baseline", "occlude_boxes")
    if starts.dim() != 2 or starts.shape[1] != r or starts.is_floating_point():
        raise ValueError(
            f"occlude_boxes: starts must be (K, {r}) integer box corners, got {tuple(starts.shape)} "
            f"{starts.dtype}"
        )
    if len(window) != r or any(int(w) < 0 for w in window):
        raise ValueError(f"occlude_boxes: window must give {r} non-negative sizes, got {tuple(window)}")
    backend = backends.select("occlude_boxes", x.device, has_triton=True)
    if backend == "torch" or x.numel() == 0 or starts.shape[0] == 0 or r > 6:
        return reference_occlude_boxes(x, baseline, starts, window)
    xc = x.contiguous()
    base = _full(baseline.to(x.dtype), x)
    st = starts.to(device=x.device, dtype=torch.int64).contiguous()
    out = torch.empty((starts.shape[0] * x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    n = x.shape[0]
    if backend == "cpp":
        _ext.cpp().occlude_boxes(
            out.data_ptr(), xc.data_ptr(), base.data_ptr(), st.data_ptr(), starts.shape[0], n,
            list(x.shape[1:]), [int(w) for w in window], base.shape[0] == n and n > 1,
            x.element_size(),
        )
    else:
        from fastxai.kernels.ablate import occlude_boxes as triton_occlude

        triton_occlude(out, xc, base, st, n, list(x.shape[1:]), [int(w) for w in window])
    return out


def reference_blend_coalitions(x: Tensor, baseline: Tensor, mask: Tensor, z: Tensor) -> Tensor:
    """out[k·N + n, e] = x[n, e] if z[k, n|0, mask[n|0, e]] else baseline[n|0, e].

    Shapes: x (N, *S); baseline and mask broadcastable to x with first dim 1 or N (mask: int64
    feature ids in [0, M)); z (K, N|1, M) bool coalitions. Returns (K·N, *S).
    """
    k, nz, m = z.shape
    flat = mask.reshape(mask.shape[0], -1).to(z.device)
    nn = max(nz, flat.shape[0])
    on = torch.gather(z.expand(k, nn, m), 2, flat.unsqueeze(0).expand(k, nn, flat.shape[1]))
    on = on.reshape((k, nn) + tuple(mask.shape[1:]))
    out = torch.where(on, x.unsqueeze(0), baseline.to(x.dtype).unsqueeze(0))
    out = out.expand((k,) + tuple(x.shape))
    return out.reshape((k * x.shape[0],) + tuple(x.shape[1:]))


def blend_coalitions(x: Tensor, baseline: Tensor, mask: Tensor, z: Tensor) -> Tensor:
    """Dispatching version of :func:`reference_blend_coalitions` (same contract). Checks that
    every mask id indexes ``z`` (ids in [0, M)): the kernels read ``z`` at those ids."""
    _check_lead(baseline, x, "baseline", "blend_coalitions")
    _check_lead(mask, x, "mask", "blend_coalitions")
    if z.dim() != 3 or z.shape[1] not in (1, x.shape[0]):
        raise ValueError(f"blend_coalitions: z must be (K, 1|N, M), got {tuple(z.shape)}")
    if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) >= z.shape[2]):
        raise ValueError(
            f"blend_coalitions: mask ids must lie in [0, {z.shape[2]}), got "
            f"[{int(mask.min())}, {int(mask.max())}]"
        )
    return _blend_coalitions(x, baseline, mask, z)


def _blend_coalitions(x: Tensor, baseline: Tensor, mask: Tensor, z: Tensor) -> Tensor:
    """:func:`blend_coalitions` without the id check, for callers that checked the mask once
    (the coalition plan calls it once per chunk)."""
    backend = backends.select("blend_coalitions", x.device)
    if backend == "torch" or x.numel() == 0 or z.shape[0] == 0:
        return reference_blend_coalitions(x, baseline, mask, z)
    xc = x.contiguous()
    base = _full(baseline.to(x.dtype), x)
    m = _full(mask.to(torch.int64), x)
    zb = z.to(device=x.device, dtype=torch.uint8).contiguous()
    k, n, e = z.shape[0], x.shape[0], x[0].numel()
    out = torch.empty((k * n,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    if backend == "cpp":
        _ext.cpp().blend_coalitions(
            out.data_ptr(), xc.data_ptr(), base.data_ptr(), m.data_ptr(), zb.data_ptr(), k, n, e,
            z.shape[2], base.shape[0] == n and n > 1, m.shape[0] == n and n > 1,
            z.shape[1] == n and n > 1, x.element_size(),
        )
    else:
        from fastxai.kernels.ablate import blend_coalitions as triton_blend

        triton_blend(out, xc, base, m, zb, n, e)
    return out
