"""Random draws for GradientShap / NoiseTunnel / DeepLiftShap.

Without a seed: Captum's global-RNG order (numpy for alphas and baseline indices, torch for
noise). With ``seed=int``: counter-based Philox keyed by (element, sample, example, stream), so
draws do not depend on chunking, batch composition beyond the example index, or device.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fastxai.ops.philox import philox_uniform_grid

STREAM_ALPHA = 1
STREAM_BASELINE = 2
STREAM_NOISE = 16  # + 2 * input index (+1 for the second Box-Muller uniform)


def seeded_uniform(seed: int, n: int, n_samples: int, stream: int, device: torch.device,
                   sample0: int = 0) -> Tensor:
    """(N, n_samples) uniforms U(seed; 0, sample0 + s, n, stream), float64."""
    return philox_uniform_grid(seed, 1, n, n_samples, stream, sample0, device)[..., 0].double()


def seeded_normal(seed: int, x: Tensor, n_samples: int, input_index: int, stdev: float,
                  sample0: int = 0) -> Tensor:
    """Gaussian noise (N * n_samples, ...) example-major (row = n * n_samples + s), Box-Muller
    over two Philox uniforms per element; std ``stdev``; in ``x``'s dtype."""
    n = x.shape[0]
    f = x[0].numel() if n else 0
    st = STREAM_NOISE + 2 * input_index
    u1 = philox_uniform_grid(seed, f, n, n_samples, st, sample0, x.device).double()
    u2 = philox_uniform_grid(seed, f, n, n_samples, st + 1, sample0, x.device).double()
    z = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * math.pi * u2)
    return (z * stdev).to(x.dtype).reshape((n * n_samples,) + tuple(x.shape[1:]))
