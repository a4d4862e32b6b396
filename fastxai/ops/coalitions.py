"""Seeded coalitions and permutations for the sampling methods, from counter-based Philox.

Every draw is keyed by (seed; feature j, sample s, example n, stream), so a coalition depends
only on *which* coalition it is: the same on the torch, C++ and Triton backends, at any chunk
size and on any device.

* :func:`coalition_keys` -- (R, M) float32 uniforms ``U(seed; j, samples[r], examples[r], stream)``.
* :func:`bernoulli_coalitions` -- (R, M) bool, ``keys < p`` (Lime's Bernoulli(p) sampling).
* :func:`shapley_kernel_coalitions` -- (R, M) bool with ``k`` ones, ``k ~ p(k) ∝ (M-1)/(k(M-k))``
  and the ``k`` features with the smallest keys on (KernelSHAP's sampling).
* :func:`permutations` -- (R, M) int64 feature orders, ``argsort(keys)`` (Shapley sampling).

The first two run as fused kernels (``csrc/coalitions.cpp``, ``kernels/coalitions.py``);
the last two add a sort / search on top, in torch, on the keys' device.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from fastxai import _ext, backends
from fastxai.ops.row_order_stats import row_order_stats
from fastxai.ops.philox import reference_philox_uniform

# streams used by the sampling methods (c3 of the Philox counter)
STREAM_KEYS = 0
STREAM_SIZE = 1


def _rows(samples: Tensor, examples: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    samples = torch.as_tensor(samples, dtype=torch.int64).reshape(-1)
    if examples is None:
        examples = torch.zeros_like(samples)
    examples = torch.as_tensor(examples, dtype=torch.int64, device=samples.device).reshape(-1)
    samples, examples = torch.broadcast_tensors(samples, examples)
    return samples.contiguous(), examples.contiguous()


def reference_coalition_keys(
    seed: int, samples: Tensor, examples: Optional[Tensor], n_features: int, stream: int = STREAM_KEYS
) -> Tensor:
    """Plain-torch keys: (R, M) float32, ``U(seed; j, samples[r], examples[r], stream)``."""
    samples, examples = _rows(samples, examples)
    j = torch.arange(n_features, dtype=torch.int64, device=samples.device)
    return reference_philox_uniform(seed, j[None, :], samples[:, None], examples[:, None], stream)


def _fill(seed: int, samples: Tensor, examples: Tensor, n_features: int, stream: int,
          thr: Optional[Tensor]) -> Tensor:
    device = samples.device
    backend = backends.select("coalitions", device)
    rows = samples.numel()
    if backend == "torch":
        keys = reference_coalition_keys(seed, samples, examples, n_features, stream)
        return keys if thr is None else keys < thr[:, None]
    dtype = torch.float32 if thr is None else torch.uint8
    out = torch.empty(rows, n_features, dtype=dtype, device=device)
    if rows and n_features:
        thr_c = None if thr is None else thr.to(device=device, dtype=torch.float32).contiguous()
        if backend == "cpp":
            if thr_c is None:
                _ext.cpp().coalition_keys_fill(out.data_ptr(), rows, n_features, seed,
                                               samples.data_ptr(), examples.data_ptr(), stream)
            else:
                _ext.cpp().coalition_mask_fill(out.data_ptr(), rows, n_features, seed,
                                               samples.data_ptr(), examples.data_ptr(), stream,
                                               thr_c.data_ptr())
        else:
            from fastxai.kernels.coalitions import coalition_fill

            coalition_fill(out, seed, samples, examples, stream, thr_c)
    return out if thr is None else out.bool()


def coalition_keys(
    seed: int, samples: Tensor, examples: Optional[Tensor], n_features: int, stream: int = STREAM_KEYS
) -> Tensor:
    """(R, M) float32 keys ``U(seed; j, samples[r], examples[r], stream)`` on ``samples``' device.

    samples, examples: (R,) int64 (examples None = 0). Dispatches torch / C++ / Triton.
    """
    samples, examples = _rows(samples, examples)
    return _fill(seed, samples, examples, n_features, stream, None)


def bernoulli_coalitions(
    seed: int, samples: Tensor, examples: Optional[Tensor], n_features: int, p: float = 0.5,
    stream: int = STREAM_KEYS,
) -> Tensor:
    """(R, M) bool: feature j of row r is on when its key < p (Bernoulli(p), Lime's default)."""
    samples, examples = _rows(samples, examples)
    thr = torch.full((samples.numel(),), float(p), dtype=torch.float32, device=samples.device)
    return _fill(seed, samples, examples, n_features, stream, thr)


def shapley_kernel_size_cdf(n_features: int, device: torch.device | str = "cpu") -> Tensor:
    """(M-1,) float64 CDF over coalition sizes k = 1..M-1 with p(k) ∝ (M-1)/(k(M-k))."""
    k = torch.arange(1, n_features, dtype=torch.float64, device=device)
    p = (n_features - 1) / (k * (n_features - k))
    return torch.cumsum(p / p.sum(), 0)


def shapley_kernel_coalitions(
    seed: int, samples: Tensor, examples: Optional[Tensor], n_features: int
) -> Tensor:
    """(R, M) bool coalitions of KernelSHAP: size k from the Shapley-kernel size distribution
    (inverse CDF of ``U(seed; 0, s, n, STREAM_SIZE)``), then the k features with the smallest
    keys (a uniformly random subset of size k). Needs M >= 2."""
    if n_features < 2:
        raise ValueError(f"shapley_kernel_coalitions needs n_features >= 2, got {n_features}")
    samples, examples = _rows(samples, examples)
    keys = coalition_keys(seed, samples, examples, n_features, STREAM_KEYS)
    u = coalition_keys(seed, samples, examples, 1, STREAM_SIZE)[:, 0]  # U(seed; 0, s, n, STREAM_SIZE)
    cdf = shapley_kernel_size_cdf(n_features, samples.device)
    k = torch.searchsorted(cdf, u.to(torch.float64), right=True).clamp_(max=n_features - 2) + 1
    # The k smallest keys, ties by lowest index (= the first k of a stable argsort), found by
    # selecting the k-th smallest key per row instead of sorting every row.
    lo = row_order_stats(keys, k - 1)[:, :1]
    below = keys < lo
    z = keys <= lo
    over = (z.sum(dim=1) > k).nonzero().flatten()  # rows whose threshold value is tied
    if over.numel():
        tied = z[over] & ~below[over]
        need = k[over, None] - below[over].sum(dim=1, keepdim=True)
        z[over] = below[over] | (tied & (tied.cumsum(dim=1) <= need))
    return z


def permutations(seed: int, samples: Tensor, n_features: int, examples: Optional[Tensor] = None) -> Tensor:
    """(R, M) int64 feature orders ``argsort(keys)`` (uniformly random permutations)."""
    samples, examples = _rows(samples, examples)
    return coalition_keys(seed, samples, examples, n_features, STREAM_KEYS).argsort(dim=1, stable=True)
