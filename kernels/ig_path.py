"""Integrated-gradients path ops in Triton (reference: ``fastxai.ops.ig_path``).

``_interp_kernel``: grid (cdiv(F, BLOCK), S): out[s*F + i] = b[i] + a[s] * (x[i] - b[i]).
``_wsum_kernel``:   grid (cdiv(F, BLOCK),):   for s in order: acc[i] = acc[i] + w[s] * g[s*F + i]
(float64 accumulator and weights).
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _interp_kernel(x_ptr, b_ptr, a_ptr, out_ptr, f, BLOCK: tl.constexpr):
    s = tl.program_id(1)
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = idx < f
    x = tl.load(x_ptr + idx, mask=valid)
    b = tl.load(b_ptr + idx, mask=valid)
    a = tl.load(a_ptr + s)
    tl.store(out_ptr + s.to(tl.int64) * f + idx, b + a * (x - b), mask=valid)


@triton.jit
def _wsum_kernel(g_ptr, w_ptr, acc_ptr, steps, f, BLOCK: tl.constexpr):
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = idx < f
    acc = tl.load(acc_ptr + idx, mask=valid)
    for s in range(steps):
        w = tl.load(w_ptr + s)
        acc = acc + w * tl.load(g_ptr + s * f + idx, mask=valid).to(tl.float64)
    tl.store(acc_ptr + idx, acc, mask=valid)


def ig_interpolate_launch(x: torch.Tensor, b: torch.Tensor, alphas: torch.Tensor, out: torch.Tensor) -> None:
    """x, b contiguous (N, ...); alphas (S,) in x's dtype; out (S*N, ...) contiguous."""
    f = x.numel()
    s = alphas.numel()
    BLOCK = 1024
    _interp_kernel[(triton.cdiv(f, BLOCK), s)](x, b, alphas, out, f, BLOCK=BLOCK)


def ig_weighted_sum_launch(g: torch.Tensor, w: torch.Tensor, acc: torch.Tensor) -> None:
    """g (S*N, ...) contiguous; w (S,) float64; acc (N, ...) float64 contiguous, updated in place."""
    f = acc.numel()
    BLOCK = 1024
    opts = {} if acc.device.type == "cpu" else {"enable_fp_fusion": False}  # same roundings as the reference
    _wsum_kernel[(triton.cdiv(f, BLOCK),)](g, w, acc, w.numel(), f, BLOCK=BLOCK, **opts)
