"""Counter-based random numbers shared by every backend.

``U(seed; c0, c1, c2, c3)`` is the first word of Philox-4x32-10 keyed by the 64-bit seed,
converted to float32 exactly as Triton's ``tl.rand`` does. With ``c1 = c2 = c3 = 0`` it
equals ``tl.rand(seed, c0)``. fastxai uses the counters as
(element, sample, example, stream), so a draw depends only on *which* number it is, never
on chunking, batch size or device: the torch, C++ and Triton paths are bit-identical.
"""
from __future__ import annotations

import torch

from fastxai import _ext, backends

_MASK32 = 0xFFFFFFFF
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57
_SCALE = 4.6566127342e-10


def _mul_hi_lo(a: int, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit words of a*b for a constant a and uint32 values b held in int64.

    Split into 16-bit halves so no intermediate exceeds int64 (no reliance on wrap-around).
    """
    a_lo, a_hi = a & 0xFFFF, a >> 16
    b_lo, b_hi = b & 0xFFFF, b >> 16
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    hi_hi = a_hi * b_hi
    cross = (lo_lo >> 16) + (hi_lo & 0xFFFF) + lo_hi
    high = (hi_hi + (hi_lo >> 16) + (cross >> 16)) & _MASK32
    low = (lo_lo + ((hi_lo + lo_hi) << 16)) & _MASK32
    return high, low


def reference_philox_uniform(
    seed: int,
    c0: torch.Tensor,
    c1: torch.Tensor | int = 0,
    c2: torch.Tensor | int = 0,
    c3: torch.Tensor | int = 0,
) -> torch.Tensor:
    """Plain-torch Philox-4x32-10 uniforms. Counters broadcast together; result float32 in [0,1).

    Args:
        seed: 64-bit key.
        c0..c3: integer tensors (or ints) of broadcastable shapes, values taken mod 2**32.
    Returns:
        float32 tensor of the broadcast shape.
    """
    dev = c0.device if isinstance(c0, torch.Tensor) else torch.device("cpu")
    cs = [torch.as_tensor(c, dtype=torch.int64, device=dev) & _MASK32 for c in (c0, c1, c2, c3)]
    cs = list(torch.broadcast_tensors(*cs))
    c0_, c1_, c2_, c3_ = cs
    k0, k1 = seed & _MASK32, (seed >> 32) & _MASK32
    for _ in range(10):
        hi_b, lo_b = _mul_hi_lo(_ROUND_B, c2_)
        hi_a, lo_a = _mul_hi_lo(_ROUND_A, c0_)
        c0_, c1_, c2_, c3_ = hi_b ^ c1_ ^ k0, lo_b, hi_a ^ c3_ ^ k1, lo_a
        k0 = (k0 + _KEY_A) & _MASK32
        k1 = (k1 + _KEY_B) & _MASK32
    x = torch.where(c0_ >= 2**31, c0_ - 2**32, c0_)  # bitcast to int32
    x = torch.where(x < 0, -x - 1, x)
    return x.to(torch.float32) * torch.tensor(_SCALE, dtype=torch.float32, device=dev)


def philox_uniform(
    seed: int, n: int, offset: int = 0, c1: int = 0, c2: int = 0, c3: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n,) float32 uniforms ``U(seed; offset + i, c1, c2, c3)`` for i in [0, n), on ``device``.

    Dispatches to Triton (CUDA / interpreter), C++ (CPU) or the torch reference; all agree bit for bit.
    """
    device = torch.device(device)
    backend = backends.select("philox_uniform", device)
    if backend == "torch":
        idx = torch.arange(offset, offset + n, device=device, dtype=torch.int64)
        return reference_philox_uniform(seed, idx, c1, c2, c3)
    out = torch.empty(n, dtype=torch.float32, device=device)
    if n == 0:
        return out
    if backend == "cpp":
        _ext.cpp().philox_uniform_fill(out.data_ptr(), n, seed, offset, c1, c2, c3)
    else:
        from fastxai.kernels.philox import philox_uniform_fill

        philox_uniform_fill(out, seed, offset, c1, c2, c3)
    return out


_GRID_ROW_FILL_MIN = 64  # elements per row below which one broadcast reference call is cheaper


def philox_uniform_grid(
    seed: int, n_elements: int, n_examples: int, n_samples: int, stream: int, sample0: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n_examples, n_samples, n_elements) float32 uniforms ``U(seed; element, sample0 + s,
    example, stream)`` — the per-element draws of the gradient family's seeded noise.

    The reference is :func:`reference_philox_uniform` broadcast over the grid. On CPU with the
    compiled module, rows of at least ``_GRID_ROW_FILL_MIN`` elements are filled in place, one
    C++ ``philox_uniform_fill`` per (example, sample), the same bits (tests/ops/test_philox.py);
    for image-sized rows the broadcast int64 reference is memory-bound and about 10x slower per
    call of seeded GradientShap. Elsewhere (CUDA: one broadcast kernel chain) the reference runs.
    """
    device = torch.device(device)
    shape = (n_examples, n_samples, n_elements)
    if (n_elements >= _GRID_ROW_FILL_MIN and n_examples * n_samples
            and backends.select("philox_uniform", device) == "cpp"):
        out = torch.empty(shape, dtype=torch.float32, device=device)
        fill = _ext.cpp().philox_uniform_fill
        for e in range(n_examples):
            for s in range(n_samples):
                fill(out[e, s].data_ptr(), n_elements, seed, 0, sample0 + s, e, stream)
        return out
    el = torch.arange(n_elements, device=device).reshape(1, 1, -1)
    ss = torch.arange(sample0, sample0 + n_samples, device=device).reshape(1, -1, 1)
    ex = torch.arange(n_examples, device=device).reshape(-1, 1, 1)
    return reference_philox_uniform(seed, el, ss, ex, stream).reshape(shape)
