"""Seeded coalition materialisation in Triton (one program per (row, feature block)).

``keys[r, j] = U(seed; j, samples[r], examples[r], stream)`` and
``mask[r, j] = keys[r, j] < thr[r]``. Reference: ``fastxai.ops.coalitions.reference_coalition_keys``.
"""
import torch
import triton
import triton.language as tl

from fastxai.kernels.philox import philox_uniform


@triton.jit
def _coalition_kernel(out_ptr, samples_ptr, examples_ptr, thr_ptr, n_features, seed, stream,
                      AS_MASK: tl.constexpr, BLOCK: tl.constexpr):
    r = tl.program_id(0)
    j = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    valid = j < n_features
    c0 = j.to(tl.uint32)
    zero = c0 * 0
    s = tl.load(samples_ptr + r).to(tl.uint32)
    e = tl.load(examples_ptr + r).to(tl.uint32)
    u = philox_uniform(seed, c0, zero + s, zero + e, zero + stream)
    offs = r.to(tl.int64) * n_features + j
    if AS_MASK:
        t = tl.load(thr_ptr + r)
        tl.store(out_ptr + offs, (u < t).to(tl.uint8), mask=valid)
    else:
        tl.store(out_ptr + offs, u, mask=valid)


def coalition_fill(out: torch.Tensor, seed: int, samples: torch.Tensor, examples: torch.Tensor,
                   stream: int, thr: torch.Tensor | None = None) -> None:
    """Fill contiguous ``out`` (R, M): float32 keys, or uint8 masks when ``thr`` (R,) is given."""
    rows, m = out.shape
    if rows == 0 or m == 0:
        return
    BLOCK = min(1024, triton.next_power_of_2(m))
    grid = (rows, triton.cdiv(m, BLOCK))
    thr_arg = thr if thr is not None else samples
    _coalition_kernel[grid](out, samples, examples, thr_arg, m, seed, stream,
                            AS_MASK=thr is not None, BLOCK=BLOCK)
