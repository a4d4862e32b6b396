"""Random draws for GradientShap / NoiseTunnel / DeepLiftShap.

Without a seed: Captum's global-RNG order (numpy for alphas and baseline indices, torch for
noise). With ``seed=int``: counter-based Philox keyed by (element, sample, example, stream), so
draws do not depend on chunking, batch composition beyond the example index, or device.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fastxai import backends
from fastxai.ops.philox import philox_uniform, reference_philox_uniform

STREAM_ALPHA = 1
STREAM_BASELINE = 2
STREAM_NOISE = 16  # + 2 * input index (+1 for the second Box-Muller uniform)
_ROW_FILL_MIN = 64  # elements per example below which one broadcast reference call is cheaper


def element_uniforms(seed: int, f: int, n: int, n_samples: int, stream: int, device: torch.device,
                     sample0: int = 0) -> Tensor:
    """(N, n_samples, F) float32 uniforms ``U(seed; element, sample0 + s, example, stream)``.

    On CPU with the compiled module, each (example, sample) row is one ``philox_uniform`` fill
    (C++; the same bits as the torch reference, tested in tests/ops/test_philox.py), about 20x
    faster than the broadcast int64 reference for image-sized rows; elsewhere, or for rows under
    ``_ROW_FILL_MIN`` elements, the reference broadcast over the whole grid.
    """
    if f >= _ROW_FILL_MIN and n * n_samples and backends.select("philox_uniform", device) == "cpp":
        out = torch.empty(n, n_samples, f, dtype=torch.float32, device=device)
        for e in range(n):
            for s in range(n_samples):
                out[e, s] = philox_uniform(seed, f, 0, sample0 + s, e, stream, device)
        return out
    el = torch.arange(f, device=device).reshape(1, 1, -1)
    s_ = torch.arange(sample0, sample0 + n_samples, device=device).reshape(1, -1, 1)
    e_ = torch.arange(n, device=device).reshape(-1, 1, 1)
    return reference_philox_uniform(seed, el, s_, e_, stream).reshape(n, n_samples, f)


def seeded_uniform(seed: int, n: int, n_samples: int, stream: int, device: torch.device,
                   sample0: int = 0) -> Tensor:
    """(N, n_samples) uniforms U(seed; 0, sample0 + s, n, stream), float64."""
    s = torch.arange(sample0, sample0 + n_samples, device=device).reshape(1, -1)
    e = torch.arange(n, device=device).reshape(-1, 1)
    return reference_philox_uniform(seed, torch.zeros_like(s), s, e, stream).double()


def seeded_normal(seed: int, x: Tensor, n_samples: int, input_index: int, stdev: float,
                  sample0: int = 0) -> Tensor:
    """Gaussian noise (N * n_samples, ...) example-major (row = n * n_samples + s), Box-Muller
    over two Philox uniforms per element; std ``stdev``; in ``x``'s dtype."""
    n = x.shape[0]
    f = x[0].numel() if n else 0
    st = STREAM_NOISE + 2 * input_index
    u1 = element_uniforms(seed, f, n, n_samples, st, x.device, sample0).double()
    u2 = element_uniforms(seed, f, n, n_samples, st + 1, x.device, sample0).double()
    z = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * math.pi * u2)
    return (z * stdev).to(x.dtype).reshape((n * n_samples,) + tuple(x.shape[1:]))
