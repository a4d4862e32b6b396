"""Overlap counts at many thresholds in Triton: one program per (map, chunk of TC thresholds).

Same outputs as ``fastxai.ops.eval_overlap_thresholds.reference_overlap_thresholds``: per map
and threshold the number of pixels past it (all / inside the annotation) and the mask size.
With min-max normalisation a first loop over the row finds min and max (NaN flagged), the second
computes ``(x - min) / (max - min)`` in float64 (IEEE division, as torch's) and
sums a BLOCK x TC comparison matrix per block. The annotation is a uint8 mask or box ranges
tested by pixel coordinates (BOXES).
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _overlap_kernel(h_ptr, m_ptr, r_ptr, thr_ptr, pred_ptr, inter_ptr, msum_ptr, P, T, NB, HH, W,
                    NORMALISE: tl.constexpr, STRICT: tl.constexpr, BOXES: tl.constexpr,
                    BLOCK: tl.constexpr, TC: tl.constexpr):
    row = tl.program_id(0)
    chunk = tl.program_id(1)
    base = row.to(tl.int64) * P
    offs = tl.arange(0, BLOCK)
    tj = chunk * TC + tl.arange(0, TC)
    tvalid = tj < T
    thr = tl.load(thr_ptr + tj, mask=tvalid, other=float("nan"))  # padding: NaN is never passed
    lo = tl.zeros((), dtype=tl.float64)
    scale = tl.full((), 1.0, dtype=tl.float64)
    ok = tl.full((), 1, dtype=tl.int32)
    if NORMALISE:
        mn = tl.full((), float("inf"), dtype=tl.float64)
        mx = tl.full((), float("-inf"), dtype=tl.float64)
        nan = tl.zeros((), dtype=tl.int32)
        for start in range(0, P, BLOCK):
            idx = start + offs
            valid = idx < P
            x = tl.load(h_ptr + base + idx, mask=valid, other=0.0).to(tl.float64)
            isnan = (x != x) & valid
            nan += tl.sum(isnan.to(tl.int32), 0)
            mn = tl.minimum(mn, tl.min(tl.where(valid & ~isnan, x, float("inf")), 0))
            mx = tl.maximum(mx, tl.max(tl.where(valid & ~isnan, x, float("-inf")), 0))
        lo = mn
        scale = mx - mn
        ok = ((nan == 0) & (scale > 0.0)).to(tl.int32)  # constant map (0/0) or NaN: nothing passes
        scale = tl.where(ok != 0, scale, 1.0)  # the counts are zeroed below; no 0/0 evaluated
    acc_all = tl.zeros((TC,), dtype=tl.int64)
    acc_in = tl.zeros((TC,), dtype=tl.int64)
    count = tl.zeros((), dtype=tl.int64)
    plane = HH * W
    for start in range(0, P, BLOCK):
        idx = start + offs
        valid = idx < P
        x = tl.load(h_ptr + base + idx, mask=valid, other=0.0).to(tl.float64)
        if NORMALISE:
            v = (x - lo) / scale  # float64: correctly rounded (div.rn.f64), as torch
        else:
            v = x
        if BOXES:
            zz = idx // plane
            yy = (idx // W) % HH
            xx = idx % W
            inside = idx < 0
            for b in range(0, NB):
                rb = r_ptr + (row.to(tl.int64) * NB + b) * 6
                z0 = tl.load(rb + 0)
                z1 = tl.load(rb + 1)
                y0 = tl.load(rb + 2)
                y1 = tl.load(rb + 3)
                x0 = tl.load(rb + 4)
                x1 = tl.load(rb + 5)
                inside = inside | ((zz >= z0) & (zz < z1) & (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1))
            inside = inside & valid
        else:
            inside = (tl.load(m_ptr + base + idx, mask=valid, other=0) != 0) & valid
        if STRICT:
            passed = v[:, None] > thr[None, :]
        else:
            passed = v[:, None] >= thr[None, :]
        passed = passed & valid[:, None]
        acc_all += tl.sum(passed.to(tl.int32), 0).to(tl.int64)
        acc_in += tl.sum((passed & inside[:, None]).to(tl.int32), 0).to(tl.int64)
        count += tl.sum(inside.to(tl.int32), 0).to(tl.int64)
    acc_all = acc_all * ok
    acc_in = acc_in * ok
    tl.store(pred_ptr + row.to(tl.int64) * T + tj, acc_all, mask=tvalid)
    tl.store(inter_ptr + row.to(tl.int64) * T + tj, acc_in, mask=tvalid)
    if chunk == 0:
        tl.store(msum_ptr + row, count)


def overlap_thresholds_triton(h: torch.Tensor, m, thr: torch.Tensor, normalise: int, strict: bool,
                              ranges=None, dims=None):
    """h (N, P) float32/64 contiguous, m (N, P) uint8 contiguous (or ``ranges`` (N, B, 6) int64 and
    ``dims`` (D, H, W)), thr (T,) sorted float64 on h's device -> pred (N, T), inter (N, T), msum (N,)."""
    n, p = h.shape
    t = thr.numel()
    pred = torch.zeros(n, t, dtype=torch.int64, device=h.device)
    inter = torch.zeros(n, t, dtype=torch.int64, device=h.device)
    msum = torch.zeros(n, dtype=torch.int64, device=h.device)
    if n == 0 or p == 0:
        return pred, inter, msum
    tc = max(16, min(64, triton.next_power_of_2(max(t, 1))))
    block = min(max(64, 8192 // tc), triton.next_power_of_2(p))
    boxes = ranges is not None
    if boxes:
        nb, hh, w = ranges.shape[1], dims[1], dims[2]
        m_arg, r_arg = h, ranges  # m_ptr unused
    else:
        nb, hh, w = 0, 1, 1
        m_arg, r_arg = m, m  # r_ptr unused
    grid = (n, max(1, triton.cdiv(t, tc)))
    _overlap_kernel[grid](h, m_arg, r_arg, thr, pred, inter, msum, p, t, nb, hh, w,
                          NORMALISE=bool(normalise), STRICT=bool(strict), BOXES=boxes, BLOCK=block, TC=tc)
    return pred, inter, msum
