"""Coalition and permutation samplers, in two flavours (the randomness rule):

* no ``seed``: the global torch RNG consumed in *exactly* Captum 0.9's order, so a
  ``torch.manual_seed`` before the call reproduces Captum's numbers (Lime: one
  ``torch.bernoulli`` per sample; KernelShap: ``Categorical.sample()`` + ``torch.randn(1, M)``
  per sample, thresholded at the ``kthvalue``, replayed by one C++ pass over the generator's
  stream in :mod:`fastxai.ops.captum_draws`; Shapley sampling: ``torch.randperm(M)`` per
  sample), vectorised wherever that does not change the draws;
* ``seed=int``: counter-based Philox keyed by (seed, feature, sample, example) through
  :mod:`fastxai.ops.coalitions`, materialised on the inputs' device, bit-identical across
  backends and chunkings.

Coalition tensors are laid out (S, N, M) bool: sample-major, as the engine's rows.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from fastxai.ops import coalitions as ops
from fastxai.ops.captum_draws import captum_fit_draw, kernel_shap_captum_draws


def _sample_grid(n_samples: int, n_examples: int, device: torch.device) -> tuple[Tensor, Tensor]:
    s = torch.arange(n_samples, device=device).repeat_interleave(n_examples)
    e = torch.arange(n_examples, device=device).repeat(n_samples)
    return s, e


def lime_coalitions(n_samples: int, n_examples: int, n_features: int, device: torch.device,
                    seed: Optional[int] = None) -> Tensor:
    """Bernoulli(0.5) coalitions, (S, N, M) bool. Captum order: example-major draws."""
    if seed is None:
        draws = []
        for _ in range(n_examples):
            draws.append(torch.bernoulli(torch.ones(n_samples, n_features) * 0.5))
            captum_fit_draw(n_features)
        z = torch.stack(draws).transpose(0, 1)
        return z.to(device=device, dtype=torch.bool)
    s, e = _sample_grid(n_samples, n_examples, device)
    return ops.bernoulli_coalitions(seed, s, e, n_features).reshape(n_samples, n_examples, n_features)


def _complement_pairs(z: Tensor, n_samples: int) -> Tensor:
    """Interleave each drawn coalition with its complement along dim 0, keep n_samples."""
    both = torch.stack([z, ~z], dim=1).reshape((-1,) + tuple(z.shape[1:]))
    return both[:n_samples]


def kernel_shap_coalitions(n_samples: int, n_examples: int, n_features: int, device: torch.device,
                           seed: Optional[int] = None, paired: bool = False) -> Tensor:
    """KernelSHAP coalitions (S, N, M) bool: sample 0 all on, sample 1 all off, then sizes
    k ~ (M-1)/(k(M-k)) with a uniformly random subset of size k. ``paired``: samples
    2, 3 / 4, 5 / ... are (coalition, complement) pairs (antithetic sampling)."""
    s_rand = max(0, n_samples - 2)
    n_draw = (s_rand + 1) // 2 if paired else s_rand
    if seed is None:
        rand = kernel_shap_captum_draws(n_examples, n_draw, n_features)
        rand = rand.reshape(n_examples, n_draw, n_features).transpose(0, 1).to(device)
    else:
        s = torch.arange(2, 2 + n_draw, device=device).repeat_interleave(n_examples)
        e = torch.arange(n_examples, device=device).repeat(n_draw)
        rand = ops.shapley_kernel_coalitions(seed, s, e, n_features).reshape(n_draw, n_examples, n_features)
    if paired:
        rand = _complement_pairs(rand, s_rand)
    fixed = torch.ones(2, n_examples, n_features, dtype=torch.bool, device=device)
    fixed[1] = False
    return torch.cat([fixed, rand.to(device)], dim=0)[:n_samples]


def permutation_orders(n_samples: int, n_features: int, device: torch.device,
                       seed: Optional[int] = None, antithetic: bool = False) -> Tensor:
    """(S, M) int64 feature orders. Captum order: ``torch.randperm(M)`` per sample.
    ``antithetic``: odd samples are the reverse of the previous permutation."""
    n_draw = (n_samples + 1) // 2 if antithetic else n_samples
    if seed is None:
        perms = torch.stack([torch.randperm(n_features) for _ in range(n_draw)]) if n_draw else \
            torch.empty(0, n_features, dtype=torch.long)
        perms = perms.to(device)
    else:
        perms = ops.permutations(seed, torch.arange(n_draw, device=device), n_features)
    if antithetic:
        perms = torch.stack([perms, perms.flip(1)], dim=1).reshape(-1, n_features)[:n_samples]
    return perms
