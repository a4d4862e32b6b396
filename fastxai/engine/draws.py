"""Random draws for GradientShap / NoiseTunnel / DeepLiftShap.

Without a seed: Captum's global-RNG order (numpy for alphas and baseline indices, torch for
noise). With ``seed=int``: counter-based Philox keyed by (element, sample, example, stream), so
draws do not depend on chunking, batch composition beyond the example index, or device.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fastxai.ops.philox import reference_philox_uniform

STREAM_ALPHA = 1
STREAM_BASELINE = 2
STREAM_NOISE = 16  # + 2 * input index (+1 for the second Box-Muller uniform)


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
    dev = x.device
    el = torch.arange(f, device=dev).reshape(1, 1, -1)
    s = torch.arange(sample0, sample0 + n_samples, device=dev).reshape(1, -1, 1)
    e = torch.arange(n, device=dev).reshape(-1, 1, 1)
    st = STREAM_NOISE + 2 * input_index
    u1 = reference_philox_uniform(seed, el, s, e, st).double()
    u2 = reference_philox_uniform(seed, el, s, e, st + 1).double()
    z = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * math.pi * u2)
    return (z * stdev).to(x.dtype).reshape((n * n_samples,) + tuple(x.shape[1:]))
