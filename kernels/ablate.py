"""Triton versions of the ablated-row ops (reference: ``fastxai.ops.ablate``).

One program = one output row (perturbation k, example n) × one block of its elements.
"""
import torch
import triton
import triton.language as tl

_BLOCK = 1024


@triton.jit
def _ablate_by_id_kernel(out_ptr, x_ptr, base_ptr, mask_ptr, ids_ptr, N, E,
                         base_stride, mask_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)  # k * N + n
    blk = tl.program_id(1)
    k = row // N
    n = row % N
    offs = blk * BLOCK + tl.arange(0, BLOCK)
    valid = offs < E
    fid = tl.load(ids_ptr + k)
    m = tl.load(mask_ptr + n * mask_stride + offs, mask=valid, other=-1)
    xv = tl.load(x_ptr + n * E + offs, mask=valid)
    bv = tl.load(base_ptr + n * base_stride + offs, mask=valid)
    tl.store(out_ptr + row.to(tl.int64) * E + offs, tl.where(m == fid, bv, xv), mask=valid)


def ablate_by_id(out, x, base, mask, ids, n, e):
    """out (K·N, *S) ← select(mask == ids[k], base, x). All tensors contiguous."""
    k = ids.numel()
    grid = (k * n, triton.cdiv(e, _BLOCK))
    base_stride = e if (base.shape[0] == n and n > 1) else 0
    mask_stride = e if (mask.shape[0] == n and n > 1) else 0
    _ablate_by_id_kernel[grid](out, x, base, mask, ids, n, e, base_stride, mask_stride, BLOCK=_BLOCK)


@triton.jit
def _occlude_kernel(out_ptr, x_ptr, base_ptr, starts_ptr, N, E, base_stride,
                    S1, S2, S3, W0, W1, W2, W3, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    blk = tl.program_id(1)
    k = row // N
    n = row % N
    offs = blk * BLOCK + tl.arange(0, BLOCK)
    valid = offs < E
    c3 = offs % S3
    rest = offs // S3
    c2 = rest % S2
    rest = rest // S2
    c1 = rest % S1
    c0 = rest // S1
    s0 = tl.load(starts_ptr + k * 4 + 0)
    s1 = tl.load(starts_ptr + k * 4 + 1)
    s2 = tl.load(starts_ptr + k * 4 + 2)
    s3 = tl.load(starts_ptr + k * 4 + 3)
    inside = (c0 >= s0) & (c0 < s0 + W0) & (c1 >= s1) & (c1 < s1 + W1)
    inside = inside & (c2 >= s2) & (c2 < s2 + W2) & (c3 >= s3) & (c3 < s3 + W3)
    xv = tl.load(x_ptr + n * E + offs, mask=valid)
    bv = tl.load(base_ptr + n * base_stride + offs, mask=valid)
    tl.store(out_ptr + row.to(tl.int64) * E + offs, tl.where(inside, bv, xv), mask=valid)


def occlude_boxes(out, x, base, starts, n, shape, window):
    """out (K·N, *S) ← select(inside box k, base, x), for up to 4 non-batch dims."""
    r = len(shape)
    if r > 4:
        raise ValueError("the Triton occlusion kernel handles at most 4 non-batch dims")
    pad = 4 - r
    shape4 = [1] * pad + list(shape)
    window4 = [1] * pad + list(window)
    starts4 = torch.cat(
        [torch.zeros((starts.shape[0], pad), dtype=torch.int64, device=starts.device), starts], dim=1
    ).contiguous()
    e = 1
    for s in shape:
        e *= s
    k = starts.shape[0]
    base_stride = e if (base.shape[0] == n and n > 1) else 0
    grid = (k * n, triton.cdiv(e, _BLOCK))
    _occlude_kernel[grid](out, x, base, starts4, n, e, base_stride, shape4[1], shape4[2], shape4[3],
                          window4[0], window4[1], window4[2], window4[3], BLOCK=_BLOCK)


@triton.jit
def _blend_coalitions_kernel(out_ptr, x_ptr, base_ptr, mask_ptr, z_ptr, N, E, M, NZ,
                             base_stride, mask_stride, z_n_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)  # k * N + n
    blk = tl.program_id(1)
    k = row // N
    n = row % N
    offs = blk * BLOCK + tl.arange(0, BLOCK)
    valid = offs < E
    fid = tl.load(mask_ptr + n * mask_stride + offs, mask=valid, other=0)
    zrow = (k * NZ + n * z_n_stride).to(tl.int64) * M
    on = tl.load(z_ptr + zrow + fid, mask=valid, other=0)
    xv = tl.load(x_ptr + n * E + offs, mask=valid)
    bv = tl.load(base_ptr + n * base_stride + offs, mask=valid)
    tl.store(out_ptr + row.to(tl.int64) * E + offs, tl.where(on != 0, xv, bv), mask=valid)


def blend_coalitions(out, x, base, mask, z, n, e):
    """out (K·N, *S) ← select(z[k, n|0, mask[n|0, e]], x, base). All tensors contiguous;
    z (K, N|1, M) as uint8."""
    k, nz, m = z.shape
    grid = (k * n, triton.cdiv(e, _BLOCK))
    base_stride = e if (base.shape[0] == n and n > 1) else 0
    mask_stride = e if (mask.shape[0] == n and n > 1) else 0
    z_n_stride = 1 if (nz == n and n > 1) else 0
    _blend_coalitions_kernel[grid](out, x, base, mask, z, n, e, m, nz, base_stride, mask_stride,
                                   z_n_stride, BLOCK=_BLOCK)
