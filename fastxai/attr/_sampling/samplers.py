"""Coalition and permutation samplers, in two flavours (the randomness rule):

* no ``seed``: the global torch RNG consumed in *exactly* Captum 0.9's order, so a
  ``torch.manual_seed`` before the call reproduces Captum's numbers (Lime: one
  ``torch.bernoulli`` per sample; KernelShap: ``Categorical.sample()`` + ``torch.randn(1, M)``
  per sample, thresholded at the ``kthvalue``; Shapley sampling: ``torch.randperm(M)`` per
  sample), vectorised wherever that does not change the draws;
* ``seed=int``: counter-based Philox keyed by (seed, feature, sample, example) through
  :mod:`fastxai.ops.coalitions`, materialised on the inputs' device, bit-identical across
  backends and chunkings.

Coalition tensors are laid out (S, N, M) bool: sample-major, as the engine's rows.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch.distributions.categorical import Categorical

from fastxai.ops import coalitions as ops
from fastxai.ops.row_order_stats import row_order_stats


def captum_fit_draw(n_features: int) -> None:
    """Replay the global-RNG draws of Captum's per-example surrogate fit, so the next
    example's coalitions match Captum's: iterating its ``DataLoader`` draws a base seed
    (``random_()`` on an int64) and the fitted ``LinearModel`` builds an ``nn.Linear(M, 1)``
    whose initialisation draws M + 1 uniforms."""
    torch.empty((), dtype=torch.int64).random_()
    torch.empty(1, n_features).uniform_()
    torch.empty(1).uniform_()


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


def captum_kernel_shap_distribution(n_features: int) -> Categorical:
    """The coalition-size distribution exactly as Captum builds it (float32, p(0) = 0)."""
    nfl = torch.arange(n_features, dtype=torch.float)
    denom = nfl * (n_features - nfl)
    probs = torch.tensor((n_features - 1)) / denom
    probs[0] = 0.0
    return Categorical(probs)


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
        dist = captum_kernel_shap_distribution(n_features)
        probs_2d = dist.probs.reshape(-1, n_features)
        if n_features >= _FAST_MIN_FEATURES:
            rand = _replayed_kernel_shap(probs_2d, n_examples, n_draw, n_features)
        else:
            ks = torch.empty(n_examples * n_draw, 1, dtype=torch.long)
            vals = torch.empty(n_examples * n_draw, n_features)
            for e in range(n_examples):
                for i in range(e * n_draw, (e + 1) * n_draw):  # Captum's order: size, then normals
                    torch.multinomial(probs_2d, 1, True, out=ks[i])
                    torch.randn(1, n_features, out=vals[i:i + 1])
                captum_fit_draw(n_features)
            rand = _threshold(ks[:, 0], vals)
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


def _threshold(ks: Tensor, vals: Tensor) -> Tensor:
    """Captum's ``vals > kthvalue(vals, M - k)`` for every row at once."""
    m = vals.shape[1]
    thr = vals.sort(dim=1).values.gather(1, (m - ks - 1).clamp(min=0)[:, None])
    return vals > thr


# --- Captum's KernelShap draws, replayed from the raw generator stream -----------------
# Per sample Captum calls ``Categorical.sample()`` (= ``multinomial(p, 1)``, which for one
# sample draws ``q = Exp(1)`` per category, each from one double = 2 words of the CPU
# mt19937 stream, and returns ``argmax(p / q)``) and ``torch.randn(1, M)`` (for M >= 16:
# M float uniforms, 1 word each, + 16 more when M % 16, Box-Muller in blocks of 16). Both
# are reproduced here from the stream read in bulk (float32 uniforms give each word's uniform, float64 uniforms at both word parities give the doubles), so one call costs three
# bulk draws instead of two tiny ops per sample. Only the *order* of the normals matters
# (coalition = the k largest); a sample whose top-2 ``p / q`` or threshold pair are closer
# than float32 round-off could flip is re-drawn exactly by replaying the real ops from
# its offset in the stream. At the end the generator is left where Captum leaves it.
_FAST_MIN_FEATURES = 16
_TIE_EPS = 1e-5


def _box_muller16(block: Tensor) -> Tensor:
    u1 = 1 - block[:, :8]
    u2 = block[:, 8:]
    r = torch.sqrt(-2 * torch.log(u1))
    th = 2 * math.pi * u2
    return torch.cat([r * torch.cos(th), r * torch.sin(th)], 1)


def _skip_words(n: int) -> None:
    if n > 0:
        torch.rand(n)  # float32 uniforms take exactly one 32-bit word each


def _replayed_kernel_shap(probs_2d: Tensor, n_examples: int, n_draw: int, m: int) -> Tensor:
    """(N * n_draw, M) bool coalitions equal to Captum's per-example, per-sample loop
    (including the fit draws between examples, :func:`captum_fit_draw`); advances the
    global generator exactly as Captum does."""
    tail = 16 if m % 16 else 0
    per = 3 * m + tail  # 2M words for the M exponentials, M + tail for randn
    block = n_draw * per + m + 3  # one example: its samples, then the fit's draws
    total = n_examples * block
    start = torch.get_rng_state()
    # word w -> its float32 uniform (low 24 bits * 2^-24), read one example at a time so the
    # generator's state at each example's first word is kept for exact re-draws below
    states = []
    uni_all = torch.empty(n_examples, block)
    for e in range(n_examples):
        states.append(torch.get_rng_state())
        torch.rand(block, out=uni_all[e])
    end = torch.get_rng_state()  # where Captum leaves the generator
    s = torch.arange(n_examples * n_draw, dtype=torch.int64)
    off = (s // max(n_draw, 1)) * block + (s % max(n_draw, 1)) * per
    # A sample's 2M exponential words start at ``off``: its M doubles are consecutive float64
    # uniforms drawn from there. With ``per`` even, every sample of an example starts at an
    # even distance from the example's first word, so one float64 read per example from its
    # saved state yields all its samples' doubles (one more pass over the stream). With
    # ``per`` odd, both word parities are read over the whole stream and gathered.
    if per % 2 == 0:
        dbl = torch.empty(n_examples, n_draw * per // 2, dtype=torch.float64)
        for e in range(n_examples):
            torch.set_rng_state(states[e])
            torch.rand(n_draw * per // 2, dtype=torch.float64, out=dbl[e])
        u = dbl.reshape(n_examples, n_draw, per // 2)[:, :, :m].reshape(n_examples * n_draw, m)
    else:
        torch.set_rng_state(start)
        d_even = torch.rand((total + 1) // 2 + 1, dtype=torch.float64)  # words 2i, 2i+1
        torch.set_rng_state(start)
        _skip_words(1)
        d_odd = torch.rand(total // 2 + 1, dtype=torch.float64)  # words 2i+1, 2i+2
        first = torch.where(off % 2 == 0, off // 2, d_even.numel() + (off - 1) // 2)
        u = torch.cat([d_even, d_odd])[first[:, None] + torch.arange(m)[None]]
    # multinomial's argmax(p / Exp(1)); Exp(1) = -log1p(-u) in float32 (torch works in double
    # and rounds: the ~1e-7 relative difference is far inside the near-tie margin below)
    score = probs_2d / -torch.log1p(-u.float())
    top2, top2_idx = score.topk(2, dim=1)
    ks = top2_idx[:, 0]  # = argmax unless the top two tie, and near-ties are re-drawn below
    # the randn words of every sample: a view per example (samples are ``per`` words apart)
    uni = uni_all[:, : n_draw * per].reshape(n_examples, n_draw, per)[:, :, 2 * m:]
    uni = uni.reshape(n_examples * n_draw, m + tail)
    vals = uni[:, :m].clone()
    for i in range(0, m - 15, 16):
        vals[:, i:i + 16] = _box_muller16(vals[:, i:i + 16])
    if tail:
        vals[:, m - 16:] = _box_muller16(uni[:, m:])
    # Captum's kthvalue threshold (the (M-k)-th smallest) and the next value up
    pair = row_order_stats(vals, (m - ks - 1).clamp(min=0))
    lo, hi = pair[:, 0], pair[:, 1]
    unsure = ((top2[:, 0] - top2[:, 1]) <= _TIE_EPS * top2[:, 0]) | ((hi - lo) <= _TIE_EPS * (1 + hi.abs()))
    z = vals > lo[:, None]
    for i in unsure.nonzero().flatten().tolist():  # exact replay from the sample's offset
        e = i // max(n_draw, 1)
        torch.set_rng_state(states[e])
        _skip_words(int(off[i]) - e * block)
        k = torch.multinomial(probs_2d, 1, True)[0]
        z[i] = _threshold(k, torch.randn(1, m))[0]
    torch.set_rng_state(end)
    return z


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
