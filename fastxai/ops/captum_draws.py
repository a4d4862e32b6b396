"""Captum 0.9's random draws for KernelShap, reproduced from the global CPU generator.

Without a ``seed`` the sampling methods consume the global torch RNG in exactly Captum's
order, so a ``torch.manual_seed`` before the call gives Captum's coalitions. For KernelShap
that order is, per example and per sample, ``Categorical(p).sample()`` then
``torch.randn(1, M)`` (coalition = the k largest normals), and after each example its
surrogate fit's draws (:func:`captum_fit_draw`).

* :func:`reference_kernel_shap_captum_draws` -- that loop, literally (two tiny ops per sample).
* :func:`kernel_shap_captum_draws` -- the same coalitions and the same generator state
  afterwards from one C++ pass over torch's mt19937 stream (``csrc/captum_kernel_shap_draws.cpp``),
  with the samples the kernel cannot be sure of (near-tied scores or normals, where torch's
  SIMD math could order them differently) re-drawn exactly by the real ops.

The draws live on the CPU generator whatever the inputs' device, so there is no Triton kernel.
The C++ pass mirrors torch's generator internals; a first call checks it against the loop
on a small case and falls back to the loop, with a warning, on a torch whose stream differs.
"""
from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor
from torch.distributions.categorical import Categorical

from fastxai import _ext, backends

# A sample is re-drawn exactly when its top-2 multinomial scores or its threshold pair of
# normals are closer than this (relative): far above float32 round-off and SIMD-libm
# differences, and rare (a handful of samples in 30,000 at M = 40).
TIE_EPS = 1e-5
_MIN_FEATURES = 16  # torch.randn(1, M) takes the block Box-Muller path from 16 elements
_STATE_BYTES = 5056


def captum_fit_draw(n_features: int) -> None:
    """Replay the global-RNG draws of Captum's per-example surrogate fit, so the next
    example's coalitions match Captum's: iterating its ``DataLoader`` draws a base seed
    (``random_()`` on an int64) and the fitted ``LinearModel`` builds an ``nn.Linear(M, 1)``
    whose initialisation draws M + 1 uniforms."""
    torch.empty((), dtype=torch.int64).random_()
    torch.empty(1, n_features).uniform_()
    torch.empty(1).uniform_()


def captum_kernel_shap_probs(n_features: int) -> Tensor:
    """(M,) float32 coalition-size probabilities exactly as Captum builds them (p(0) = 0)."""
    nfl = torch.arange(n_features, dtype=torch.float)
    probs = torch.tensor((n_features - 1)) / (nfl * (n_features - nfl))
    probs[0] = 0.0
    return probs


def captum_kernel_shap_distribution(n_features: int) -> Categorical:
    """The coalition-size distribution exactly as Captum builds it. Its ``probs`` (normalised
    by ``Categorical``: ``probs / probs.sum()``) are what ``multinomial`` scores p / Exp(1) with."""
    return Categorical(captum_kernel_shap_probs(n_features))


def _one_sample(probs_2d: Tensor, m: int) -> Tensor:
    """One Captum KernelShap draw from the global generator: (M,) bool."""
    k = torch.multinomial(probs_2d, 1, True)[0, 0]
    vals = torch.randn(1, m)[0]
    return vals > torch.kthvalue(vals, m - int(k)).values


def reference_kernel_shap_captum_draws(n_examples: int, n_draw: int, n_features: int) -> Tensor:
    """Captum's loop: (N * n_draw, M) bool coalitions, example-major; advances the global
    generator by exactly Captum's draws, the fit draws after every example included."""
    probs_2d = captum_kernel_shap_distribution(n_features).probs[None]
    z = torch.empty(n_examples * n_draw, n_features, dtype=torch.bool)
    for e in range(n_examples):
        for i in range(e * n_draw, (e + 1) * n_draw):
            z[i] = _one_sample(probs_2d, n_features)
        captum_fit_draw(n_features)
    return z


def _cpp_draws(n_examples: int, n_draw: int, m: int, tie_eps: float) -> Tensor:
    probs = captum_kernel_shap_distribution(m).probs
    state = torch.get_rng_state()
    if state.numel() != _STATE_BYTES:
        raise RuntimeError(f"unexpected CPU generator state of {state.numel()} bytes")
    z = torch.empty(n_examples * n_draw, m, dtype=torch.uint8)
    unsure = torch.empty(n_examples * n_draw, dtype=torch.uint8)
    starts = torch.empty(n_examples, _STATE_BYTES, dtype=torch.uint8)
    end = torch.empty(_STATE_BYTES, dtype=torch.uint8)
    _ext.cpp().captum_kernel_shap_draws(state.data_ptr(), probs.data_ptr(), z.data_ptr(), unsure.data_ptr(),
                                        starts.data_ptr(), end.data_ptr(), n_examples, n_draw, m, tie_eps)
    z = z.bool()
    per = 3 * m + (16 if m % 16 else 0)  # words per sample: 2M for the exponentials, M (+16) normals
    probs_2d = probs[None]
    for i in unsure.nonzero().flatten().tolist():  # exact replay from the sample's offset
        e, s = divmod(i, n_draw)
        torch.set_rng_state(starts[e].clone())  # set_rng_state on a row view segfaults (torch 2.13)
        if s:
            torch.rand(s * per)  # a float32 uniform takes exactly one 32-bit word
        z[i] = _one_sample(probs_2d, m)
    torch.set_rng_state(end)
    return z


@functools.lru_cache(maxsize=None)
def _cpp_matches_torch() -> bool:
    """Whether the C++ pass reproduces this torch build's loop (checked once, on a private seed;
    the global generator is restored)."""
    saved = torch.get_rng_state()
    try:
        ok = True
        for m in (16, 21):
            # the CPU generator only (torch.manual_seed would reseed the CUDA generators too)
            torch.default_generator.manual_seed(20261122 + m)
            want = reference_kernel_shap_captum_draws(2, 5, m)
            after = torch.get_rng_state()
            torch.default_generator.manual_seed(20261122 + m)
            got = _cpp_draws(2, 5, m, TIE_EPS)
            ok = ok and torch.equal(got, want) and torch.equal(torch.get_rng_state(), after)
    except (RuntimeError, AttributeError):  # a generator state of another layout; a stale _C
        ok = False
    finally:
        torch.set_rng_state(saved)
    if not ok:
        warnings.warn("fastxai: this torch's CPU generator stream differs from what the C++ replay of "
                      "Captum's KernelShap draws expects; using the per-sample loop (same numbers, slower)",
                      RuntimeWarning, stacklevel=3)
    return ok


def kernel_shap_captum_draws(n_examples: int, n_draw: int, n_features: int) -> Tensor:
    """Same contract as :func:`reference_kernel_shap_captum_draws` ((N * n_draw, M) bool on the
    CPU, generator left where Captum leaves it), from one C++ pass when M >= 16."""
    if n_examples < 0 or n_draw < 0 or n_features < 2:
        raise ValueError(
            f"kernel_shap_captum_draws: need n_examples, n_draw >= 0 and n_features >= 2, got "
            f"{n_examples}, {n_draw}, {n_features}"
        )
    backend = backends.select("captum_kernel_shap_draws", torch.device("cpu"), has_triton=False)
    if backend != "cpp" or n_features < _MIN_FEATURES or n_examples * n_draw == 0 or not _cpp_matches_torch():
        return reference_kernel_shap_captum_draws(n_examples, n_draw, n_features)
    return _cpp_draws(n_examples, n_draw, n_features, TIE_EPS)
