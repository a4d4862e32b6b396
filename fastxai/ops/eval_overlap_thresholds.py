"""Overlap counts of binarised heat maps at many thresholds, in one pass per map.

For each map ``n`` (heat map ``h[n]`` flattened to P pixels, annotation ``m[n]``) and threshold
``t_j`` (j < T):

* ``pred[n, j]  = |{i : v[n, i] > t_j}|`` (``>=`` when ``strict=False``),
* ``inter[n, j] = |{i : v[n, i] > t_j, m[n, i]}|``,
* ``msum[n]     = |{i : m[n, i]}|``,

with ``v = h`` (``normalise="none"``; compared in h's dtype, i.e. the thresholds are rounded to
it, as torch does for ``h > t``) or ``v = (h - min) / max(h - min)`` per map in float64
(``normalise="minmax"``, cheXlocalize; a constant map is all NaN, so no pixel passes). Every
decision equals the old per-threshold ``h > t`` loop bit for bit (Triton computes the same
float64 expression per pixel; C++ compares with per-threshold cuts found by bisection on that
expression, exact because it is monotone). IoU / Dice follow from the counts
(``fastxai.eval.overlap``).

Backends: C++/OpenMP (``csrc/eval_overlap_thresholds.cpp``: per pixel the number of thresholds
passed — a vectorised count for small T, a branch-free binary search for large T — and one
histogram increment, then suffix sums: O(P log T + T) per map) on CPU; Triton
(``kernels/eval_overlap_thresholds.py``: one program per map and chunk of thresholds, a
BLOCK x T comparison matrix summed per block) on CUDA (CPU under ``TRITON_INTERPRET=1`` when
asked for); torch reference (the per-threshold loop) elsewhere.
The annotation is an (N, P) bool mask or, with ``*_boxes``, the (N, B, 6) int64 pixel ranges of
``fastxai.eval.boxes.box_ranges`` (no mask is built).
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch

from fastxai import _ext, backends
from fastxai.ops.eval_heatmap_stats import _as_uint8, check_ranges, ranges_to_mask, volume_dims

NORMALISE = {"none": 0, "minmax": 1}
Thresholds = Union[Sequence[float], torch.Tensor]
Counts = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _check_normalise(normalise: str) -> None:
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be minmax|none, got {normalise!r}")


def _threshold_list(thresholds: Thresholds) -> list:
    if isinstance(thresholds, torch.Tensor):
        return [float(t) for t in thresholds.reshape(-1).tolist()]
    return [float(t) for t in thresholds]


def reference_overlap_thresholds(h: torch.Tensor, m: torch.Tensor, thresholds: Thresholds,
                                 normalise: str = "minmax", strict: bool = True) -> Counts:
    """Plain-torch reference (one ``h > t`` mask per threshold).

    h (N, P) float, m (N, P) bool, T thresholds -> pred (N, T), inter (N, T), msum (N,), all int64.
    """
    _check_normalise(normalise)
    ts = _threshold_list(thresholds)
    m = m.to(torch.bool)
    if normalise == "minmax":
        hd = finite_range(h).to(torch.float64)
        shifted = hd - hd.amin(1, keepdim=True) if h.shape[1] else hd
        h = shifted / shifted.amax(1, keepdim=True) if h.shape[1] else hd
    n = h.shape[0]
    pred = torch.zeros(n, len(ts), dtype=torch.int64, device=h.device)
    inter = torch.zeros_like(pred)
    for j, t in enumerate(ts):
        b = h > t if strict else h >= t
        pred[:, j] = b.sum(1)
        inter[:, j] = (b & m).sum(1)
    return pred, inter, m.sum(1).to(torch.int64)


def reference_overlap_thresholds_boxes(h: torch.Tensor, ranges: torch.Tensor, spatial: Sequence[int],
                                       thresholds: Thresholds, normalise: str = "minmax",
                                       strict: bool = True) -> Counts:
    """Plain-torch reference with box ranges: rasterise, then ``reference_overlap_thresholds``."""
    m = ranges_to_mask(check_ranges(ranges, h.shape[0], spatial), spatial).to(h.device)
    return reference_overlap_thresholds(h, m, thresholds, normalise, strict)


def finite_range(h: torch.Tensor) -> torch.Tensor:
    """``h`` (N, P) with the rows whose range max - min overflows their dtype (maps near its maximum)
    halved: an exact scaling that leaves every min-max decision ``(h - min) / max(h - min) > t`` as it
    is, without an overflow to inf (the kernels compute float16/32 ranges in float64, where they fit;
    halving them changes nothing). Other rows are untouched, without a copy when none overflows."""
    if not h.is_floating_point() or h.numel() == 0 or (h.dtype != torch.float64 and h.dtype != torch.float32
                                                        and h.dtype != torch.float16 and h.dtype != torch.bfloat16):
        return h
    lo, hi = torch.aminmax(h, dim=1)
    wide = torch.isinf(hi - lo) & torch.isfinite(lo) & torch.isfinite(hi)
    if not bool(wide.any()):
        return h
    return torch.where(wide[:, None], h * 0.5, h)


def _kernel_inputs(h: torch.Tensor, ts: list, normalise: str):
    """Contiguous float32/float64 maps; the non-NaN thresholds sorted, as float64 (rounded to h's
    dtype first when there is no normalisation: the comparison torch makes); and the caller's
    column of each sorted threshold (NaN thresholds are never passed: their columns stay 0)."""
    hk = h if h.dtype in (torch.float32, torch.float64) else h.to(torch.float32)  # f16/bf16: exact
    thr = torch.tensor(ts, dtype=torch.float64)
    if normalise == "none":
        thr = thr.to(h.dtype).to(torch.float64)
    nan = torch.isnan(thr)
    keep = torch.nonzero(~nan).flatten()
    vals, order = torch.sort(thr[keep], stable=True)
    return hk.contiguous(), vals.contiguous(), keep[order]


def _scatter(n: int, t: int, cols: torch.Tensor, pred: torch.Tensor, inter: torch.Tensor,
             device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Kernel columns (sorted, NaN thresholds dropped) back to the caller's threshold order."""
    if cols.numel() == t and bool((cols == torch.arange(t)).all()):
        return pred, inter
    full_p = torch.zeros(n, t, dtype=torch.int64, device=device)
    full_i = torch.zeros_like(full_p)
    full_p[:, cols.to(device)] = pred
    full_i[:, cols.to(device)] = inter
    return full_p, full_i


def _run(h: torch.Tensor, thresholds: Thresholds, normalise: str, strict: bool, m=None, ranges=None,
         spatial=None) -> Counts:
    _check_normalise(normalise)
    ts = _threshold_list(thresholds)
    boxes = ranges is not None
    ok_dtype = h.is_floating_point()  # float16 / bfloat16 run as exact float32 copies
    backend = backends.select("eval_overlap_thresholds", h.device, has_cpp=ok_dtype, has_triton=ok_dtype)
    if backend == "torch" or h.numel() == 0 or not ts:
        if boxes:
            return reference_overlap_thresholds_boxes(h, ranges, spatial, ts, normalise, strict)
        return reference_overlap_thresholds(h, m, ts, normalise, strict)
    n, p = h.shape
    if normalise == "minmax":
        h = finite_range(h)
    hk, thr, cols = _kernel_inputs(h, ts, normalise)
    tk = thr.numel()
    d, hh, w = volume_dims(spatial) if boxes else (0, 0, 0)
    if backend == "triton":
        from fastxai.kernels.eval_overlap_thresholds import overlap_thresholds_triton

        if boxes:
            pred, inter, msum = overlap_thresholds_triton(
                hk, None, thr.to(h.device), NORMALISE[normalise], strict,
                ranges=ranges.to(device=h.device, dtype=torch.int64).contiguous(), dims=(d, hh, w))
        else:
            pred, inter, msum = overlap_thresholds_triton(hk, _as_uint8(m), thr.to(h.device), NORMALISE[normalise],
                                                          strict)
    else:
        pred = torch.empty(n, tk, dtype=torch.int64)
        inter = torch.empty(n, tk, dtype=torch.int64)
        msum = torch.empty(n, dtype=torch.int64)
        c = _ext.cpp()
        f32 = hk.dtype == torch.float32
        if boxes:
            rc = ranges.to(torch.int64).contiguous()
            fn = c.eval_overlap_thresholds_boxes_f32 if f32 else c.eval_overlap_thresholds_boxes_f64
            fn(hk.data_ptr(), rc.data_ptr(), thr.data_ptr(), pred.data_ptr(), inter.data_ptr(), msum.data_ptr(),
               n, rc.shape[1], d, hh, w, tk, NORMALISE[normalise], bool(strict))
        else:
            mc = _as_uint8(m)
            fn = c.eval_overlap_thresholds_f32 if f32 else c.eval_overlap_thresholds_f64
            fn(hk.data_ptr(), mc.data_ptr(), thr.data_ptr(), pred.data_ptr(), inter.data_ptr(), msum.data_ptr(),
               n, p, tk, NORMALISE[normalise], bool(strict))
    pred, inter = _scatter(n, len(ts), cols, pred, inter, h.device)
    return pred, inter, msum


def overlap_thresholds(h: torch.Tensor, m: torch.Tensor, thresholds: Thresholds, normalise: str = "minmax",
                       strict: bool = True) -> Counts:
    """Counts of ``v > t`` (``>=`` if not strict) pixels, all and inside the mask, per map and threshold.

    Args:
        h: (N, P) float heat maps (P = H*W or D*H*W; any strides).
        m: (N, P) bool (or 0/1 uint8) masks.
        thresholds: T thresholds, any order (NaN: never passed).
        normalise: ``"minmax"`` (per map, float64, cheXlocalize) or ``"none"``.
        strict: ``>`` (True) or ``>=``.
    Returns:
        pred (N, T) int64 = |v > t|, inter (N, T) int64 = |(v > t) ∩ m|, msum (N,) int64 = |m|.
    """
    if h.dim() != 2 or m.shape != h.shape:
        raise ValueError(f"h and m must both be (N, P); got {tuple(h.shape)} and {tuple(m.shape)}")
    return _run(h, thresholds, normalise, strict, m=m)


def overlap_thresholds_boxes(h: torch.Tensor, ranges: torch.Tensor, spatial: Sequence[int], thresholds: Thresholds,
                             normalise: str = "minmax", strict: bool = True) -> Counts:
    """``overlap_thresholds`` with box annotations as pixel ranges, without an (N, P) mask.

    Args:
        h: (N, P) float heat maps, P = prod(spatial).
        ranges: (N, B, 6) int64 clipped half-open ranges [z0, z1, y0, y1, x0, x1] (2D: z = [0, 1)),
            from ``fastxai.eval.boxes.box_ranges``.
        spatial: (H, W) or (D, H, W).
    Returns:
        pred (N, T), inter (N, T), msum (N,) int64.
    """
    d, hh, w = volume_dims(spatial)
    if h.dim() != 2 or h.shape[1] != d * hh * w:
        raise ValueError(f"h must be (N, {d * hh * w}); got {tuple(h.shape)}")
    ranges = check_ranges(ranges, h.shape[0], spatial)
    return _run(h, thresholds, normalise, strict, ranges=ranges, spatial=spatial)
