"""Triton RISE masks (reference: ``fastxai.ops.rise_masks.reference_rise_masks``).

Grid cells and shifts are drawn with Triton's Philox in a first small kernel; the
multilinear upsample-and-crop runs in a second kernel, one program per (mask, block of voxels),
with the same float32 op order as the reference (no FMA contraction).
"""
import torch
import triton
import triton.language as tl

from fastxai.kernels.philox import philox_uniform

_BLOCK = 512


@triton.jit
def _grid_kernel(grid_ptr, shift_ptr, seed, p0, ncell, p_keep, C0, C1, C2,
                 BLOCK: tl.constexpr):
    k = tl.program_id(0)
    p = (p0 + k).to(tl.uint32)
    offs = tl.arange(0, BLOCK)
    for start in range(0, ncell, BLOCK):
        c = start + offs
        z = (c * 0).to(tl.uint32)
        u = philox_uniform(seed, c.to(tl.uint32), z + p, z, z)
        tl.store(grid_ptr + k * ncell + c, tl.where(u < p_keep, 1.0, 0.0), mask=c < ncell)
    d = tl.arange(0, 4)
    zd = (d * 0).to(tl.uint32)
    ud = philox_uniform(seed, d.to(tl.uint32), zd + p, zd, zd + 1)
    cell = tl.where(d == 0, C0, tl.where(d == 1, C1, C2)).to(tl.float32)
    tl.store(shift_ptr + k * 3 + d, (ud * cell).to(tl.int32), mask=d < 3)


@triton.jit
def _axis(pos, shift, g, up):
    scale = g.to(tl.float32) / up.to(tl.float32)
    src = ((pos + shift).to(tl.float32) + 0.5) * scale - 0.5
    src = tl.maximum(src, 0.0)
    i0 = src.to(tl.int32)
    i1 = tl.minimum(i0 + 1, g - 1)
    l1 = src - i0.to(tl.float32)
    return i0, i1, 1.0 - l1, l1


@triton.jit
def _interp_kernel(out_ptr, grid_ptr, shift_ptr, S0, S1, S2, G0, G1, G2, U0, U1, U2,
                   BLOCK: tl.constexpr):
    k = tl.program_id(0)
    blk = tl.program_id(1)
    plane = S0 * S1 * S2
    offs = blk * BLOCK + tl.arange(0, BLOCK)
    valid = offs < plane
    x = offs % S2
    y = (offs // S2) % S1
    z = offs // (S1 * S2)
    sh0 = tl.load(shift_ptr + k * 3 + 0)
    sh1 = tl.load(shift_ptr + k * 3 + 1)
    sh2 = tl.load(shift_ptr + k * 3 + 2)
    z0, z1, lz0, lz1 = _axis(z, sh0, G0, U0)
    y0, y1, ly0, ly1 = _axis(y, sh1, G1, U1)
    x0, x1, lx0, lx1 = _axis(x, sh2, G2, U2)
    base = grid_ptr + k * (G0 * G1 * G2)
    g000 = tl.load(base + (z0 * G1 + y0) * G2 + x0, mask=valid, other=0.0)
    g001 = tl.load(base + (z0 * G1 + y0) * G2 + x1, mask=valid, other=0.0)
    g010 = tl.load(base + (z0 * G1 + y1) * G2 + x0, mask=valid, other=0.0)
    g011 = tl.load(base + (z0 * G1 + y1) * G2 + x1, mask=valid, other=0.0)
    g100 = tl.load(base + (z1 * G1 + y0) * G2 + x0, mask=valid, other=0.0)
    g101 = tl.load(base + (z1 * G1 + y0) * G2 + x1, mask=valid, other=0.0)
    g110 = tl.load(base + (z1 * G1 + y1) * G2 + x0, mask=valid, other=0.0)
    g111 = tl.load(base + (z1 * G1 + y1) * G2 + x1, mask=valid, other=0.0)
    plane0 = ly0 * (lx0 * g000 + lx1 * g001) + ly1 * (lx0 * g010 + lx1 * g011)
    plane1 = ly0 * (lx0 * g100 + lx1 * g101) + ly1 * (lx0 * g110 + lx1 * g111)
    tl.store(out_ptr + k * plane + offs, lz0 * plane0 + lz1 * plane1, mask=valid)


def rise_masks(out, seed, p0, k, s3, g3, p_keep):
    """Fill ``out`` (K, *spatial) float32 with masks p0..p0+K-1."""
    dev = out.device
    ncell = g3[0] * g3[1] * g3[2]
    cells = [-(-s // g) for s, g in zip(s3, g3)]
    ups = [(g + 1) * c for g, c in zip(g3, cells)]
    grid = torch.empty((k, ncell), dtype=torch.float32, device=dev)
    shifts = torch.empty((k, 3), dtype=torch.int32, device=dev)
    _grid_kernel[(k,)](grid, shifts, seed, p0, ncell, p_keep, cells[0], cells[1], cells[2], BLOCK=128)
    plane = s3[0] * s3[1] * s3[2]
    opts = {} if dev.type == "cpu" else {"enable_fp_fusion": False}
    _interp_kernel[(k, triton.cdiv(plane, _BLOCK))](
        out, grid, shifts, s3[0], s3[1], s3[2], g3[0], g3[1], g3[2], ups[0], ups[1], ups[2],
        BLOCK=_BLOCK, **opts,
    )
