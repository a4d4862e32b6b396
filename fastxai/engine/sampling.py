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
FeaturePermutation's per-feature batch shuffles (:func:`draw_permutations`) follow the same
rule: Captum's ``torch.randperm`` order without a seed, Philox argsorts with one.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError

from fastxai.ops import coalitions as ops
from fastxai.ops.captum_draws import captum_fit_draw, kernel_shap_captum_draws
from fastxai.ops.philox import reference_philox_uniform


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


def captum_feature_order(masks: Tuple[Tensor, ...], ids: Tensor) -> List[int]:
    """Positions in the sorted ``ids`` in the order Captum walks features: input 0's ids
    ascending, then the ids first seen in input 1, and so on (its feature -> tensor dict).
    It matters for the random draws only, whose order must follow Captum's."""
    pos = {f: j for j, f in enumerate(ids.tolist())}
    order: List[int] = []
    seen = set()
    for m in masks:
        for f in torch.unique(m).tolist():
            if f not in seen:
                seen.add(f)
                order.append(pos[f])
    return order


def draw_permutations(
    sizes: List[int], holders: List[List[int]], order: List[int], order_chunk: int,
    seed: Optional[int], device: torch.device,
) -> List[Tensor]:
    """Per input tensor i, a (P, sizes[i]) table of permutations of its dim 0 for the P
    features of ``holders`` (indexed by sorted feature position). Only the features listed
    in ``order`` are drawn, in Captum's order: per chunk of ``order_chunk`` of them, per
    input tensor holding any of the chunk, per feature of the chunk. Tensor i's dim 0 is
    usually the batch N, but a "sparse" tensor (an index list) is shuffled along its own
    length, as Captum's ``perm_func`` does. With ``seed``, permutation (p, i) is the argsort
    of Philox uniforms keyed by (seed; element, p, attempt, i)."""
    perms = [torch.arange(m).repeat(len(holders), 1) for m in sizes]
    for c0 in range(0, len(order), order_chunk):
        chunk = order[c0 : c0 + order_chunk]
        tensors = sorted({i for p in chunk for i in holders[p]})
        for i in tensors:
            m = sizes[i]
            if m < 2:  # only reachable with the min-examples skip disabled
                raise InputError(
                    f"FeaturePermutation: cannot permute input {i} along dim 0 of size {m}; "
                    "it needs at least 2 entries"
                )
            ident = torch.arange(m)
            for p in chunk:
                attempt = 0
                while True:
                    if seed is None:
                        perm = torch.randperm(m)
                    else:
                        u = reference_philox_uniform(seed, torch.arange(m), p, attempt, i)
                        perm = torch.argsort(u)
                    attempt += 1
                    if not bool((perm == ident).all()):
                        break
                perms[i][p] = perm
    return [t.to(device) for t in perms]


def permutation_prefixes(perms: Tensor) -> Callable[[int, int], Tensor]:
    """Coalitions of Shapley value sampling, for a plan: perturbation ``s·M + i`` holds the
    first i + 1 features of order ``perms[s]`` (S, M). Returns ``(p0, p1) -> (k, 1, M)`` bool."""
    ranks = perms.argsort(dim=1)
    m = perms.shape[1]

    def coalitions(p0: int, p1: int) -> Tensor:
        p = torch.arange(p0, p1, device=perms.device)
        return (ranks[p // m] <= (p % m)[:, None]).unsqueeze(1)

    return coalitions


def all_subsets(m: int, device: torch.device) -> Callable[[int, int], Tensor]:
    """All 2^M coalitions, for a plan: perturbation p has feature j on where bit j of p is set.
    Returns ``(p0, p1) -> (k, 1, M)`` bool."""
    bits = 1 << torch.arange(m, device=device)

    def coalitions(p0: int, p1: int) -> Tensor:
        p = torch.arange(p0, p1, device=device)
        return ((p[:, None] & bits) != 0).unsqueeze(1)

    return coalitions
