"""Counter-based uniforms in Triton: Triton's own Philox-4x32-10 (the function behind
``tl.rand``) with all four counter words used, so draws are keyed by
(seed; element, sample, example, stream). Reference: ``fastxai.ops.philox.reference_philox_uniform``.
"""
import torch
import triton
import triton.language as tl
from triton.language.random import philox as _philox, uint_to_uniform_float


@triton.jit
def philox_uniform(seed, c0, c1, c2, c3):
    """Uniform float32 in [0, 1) for counters (c0, c1, c2, c3) (uint32 blocks or scalars)."""
    r0, _, _, _ = _philox(seed, c0, c1, c2, c3)
    return uint_to_uniform_float(r0)


@triton.jit
def _philox_fill_kernel(out_ptr, n, seed, offset, c1, c2, c3, BLOCK: tl.constexpr):
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = idx < n
    c0 = (idx + offset).to(tl.uint32)
    zero = c0 * 0
    u = philox_uniform(seed, c0, zero + c1, zero + c2, zero + c3)
    tl.store(out_ptr + idx, u, mask=valid)


def philox_uniform_fill(out: torch.Tensor, seed: int, offset: int, c1: int, c2: int, c3: int) -> None:
    """Fill contiguous float32 ``out`` (n,) with U(seed; offset + i, c1, c2, c3)."""
    n = out.numel()
    BLOCK = 1024
    grid = (triton.cdiv(n, BLOCK),)
    _philox_fill_kernel[grid](out, n, seed, offset, c1, c2, c3, BLOCK=BLOCK)
