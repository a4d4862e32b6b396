"""Integrated-gradients path ops: interpolation of the step inputs and the weighted reduction
of the step gradients.

``ig_interpolate``:  out[s, n, f] = b[n, f] + alpha[s] * (x[n, f] - b[n, f])   -> (S*N, ...)
``ig_weighted_sum``: acc[n, f] += sum_s w[s] * g[s, n, f]                       -> (N, ...)

Rows are step-major (row = s * N + n), Captum's layout. The reduction runs per chunk of steps
and accumulates into ``acc``, so all S*N gradient rows never need to exist at once.
Backends: C++ (CPU), Triton (CUDA / interpreter), torch reference; float32 and float64.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from fastxai import _ext, backends

_DTYPES = (torch.float32, torch.float64)


def reference_ig_interpolate(x: Tensor, b: Tensor, alphas: Tensor) -> Tensor:
    """Plain torch: ``cat([b + a * (x - b) for a in alphas])``. x (N, ...), b broadcastable
    to x, alphas (S,) -> (S*N, ...)."""
    b = b.to(dtype=x.dtype).expand_as(x)
    a = alphas.to(dtype=x.dtype, device=x.device).reshape((-1,) + (1,) * x.dim())
    out = b.unsqueeze(0) + a * (x - b).unsqueeze(0)
    return out.reshape((-1,) + tuple(x.shape[1:]))


def reference_ig_weighted_sum(grads: Tensor, weights: Tensor, n: int, acc: Tensor) -> Tensor:
    """Plain torch: grads (S*N, ...) step-major, weights (S,), acc (N, ...) float64, updated in
    place one step at a time in step order: acc = acc + w_s * g_s (float64). Returns acc."""
    w = weights.to(dtype=torch.float64).tolist()
    for s, ws in enumerate(w):
        acc.copy_(acc + ws * grads[s * n : (s + 1) * n].to(torch.float64))
    return acc


def _backend(op: str, t: Tensor) -> str:
    if t.dtype not in _DTYPES:
        return "torch"
    return backends.select(op, t.device)


def ig_interpolate(x: Tensor, b: Tensor, alphas: Sequence[float] | Tensor) -> Tensor:
    """Step inputs ``b + alpha_s (x - b)`` for every step, step-major.

    Args:
        x: inputs (N, ...).
        b: baselines broadcastable to ``x`` (scalar tensor, (1, ...) or (N, ...)).
        alphas: (S,) path positions.
    Returns:
        (S*N, ...) tensor in ``x``'s dtype.
    """
    alphas_t = torch.as_tensor(alphas, dtype=torch.float64)
    backend = _backend("ig_interpolate", x)
    if backend == "torch" or x.numel() == 0 or alphas_t.numel() == 0:
        return reference_ig_interpolate(x, b, alphas_t)
    xc = x.detach().contiguous()
    bc = b.detach().to(dtype=x.dtype, device=x.device).expand_as(x).contiguous()
    s = alphas_t.numel()
    out = torch.empty((s * x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    if backend == "cpp":
        a = alphas_t.contiguous()
        _ext.cpp().ig_interpolate(
            xc.data_ptr(), bc.data_ptr(), a.data_ptr(), out.data_ptr(), s, xc.numel(),
            x.dtype == torch.float64,
        )
    else:
        from fastxai.kernels.ig_path import ig_interpolate_launch

        ig_interpolate_launch(xc, bc, alphas_t.to(device=x.device, dtype=x.dtype), out)
    return out


def ig_weighted_sum(
    grads: Tensor, weights: Sequence[float] | Tensor, n: int, acc: Optional[Tensor] = None
) -> Tensor:
    """Accumulate the weighted step gradients into a float64 accumulator, step by step in
    step order (acc = acc + w_s * g_s), so the result does not depend on how the S steps
    were split into chunks.

    Args:
        grads: (S*N, ...) step-major gradients (float32 or float64).
        weights: (S,) step weights.
        n: N, rows per step.
        acc: (N, ...) float64 accumulator (created as zeros when None); updated and returned.
    """
    w = torch.as_tensor(weights, dtype=torch.float64)
    if acc is None:
        acc = torch.zeros((n,) + tuple(grads.shape[1:]), dtype=torch.float64, device=grads.device)
    if acc.dtype != torch.float64:
        raise ValueError(f"ig_weighted_sum: acc must be float64, got {acc.dtype}")
    if grads.dim() == 0 or grads.shape[0] != w.numel() * n or tuple(grads.shape[1:]) != tuple(acc.shape[1:]) \
            or acc.shape[0] != n:
        raise ValueError(
            f"ig_weighted_sum: grads {tuple(grads.shape)} must be (S*N, ...) with S = {w.numel()} "
            f"weights and N = {n}, matching acc {tuple(acc.shape)} = (N, ...)"
        )
    backend = _backend("ig_weighted_sum", grads)
    if backend == "torch" or grads.numel() == 0:
        return reference_ig_weighted_sum(grads, w, n, acc)
    g = grads.detach().contiguous()
    if not acc.is_contiguous():
        raise ValueError("ig_weighted_sum: acc must be contiguous")
    s = w.numel()
    if backend == "cpp":
        wc = w.contiguous()
        _ext.cpp().ig_weighted_sum(
            g.data_ptr(), wc.data_ptr(), acc.data_ptr(), s, acc.numel(),
            grads.dtype == torch.float64,
        )
    else:
        from fastxai.kernels.ig_path import ig_weighted_sum_launch

        ig_weighted_sum_launch(g, w.to(device=g.device), acc)
    return acc
