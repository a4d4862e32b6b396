"""Captum's KernelShap draws: the C++ pass over torch's mt19937 stream vs the per-sample loop
(coalitions bit for bit, and the global generator left in the same state)."""
import warnings

import pytest
import torch

from fastxai import _ext, backends, use_backend
from fastxai.ops import captum_draws as C

needs_cpp = pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")


def _both(n_examples: int, n_draw: int, m: int, seed: int):
    torch.manual_seed(seed)
    want = C.reference_kernel_shap_captum_draws(n_examples, n_draw, m)
    state_after = torch.get_rng_state()
    torch.manual_seed(seed)
    with use_backend("cpp"):
        got = C.kernel_shap_captum_draws(n_examples, n_draw, m)
    return got, want, state_after


@needs_cpp
@pytest.mark.parametrize("n_examples,n_draw,m", [(3, 40, 16), (2, 50, 17), (4, 60, 40), (2, 25, 64),
                                                 (2, 20, 65), (1, 9, 100), (2, 1, 33), (5, 130, 20)])
def test_cpp_pass_equals_captum_loop(n_examples, n_draw, m) -> None:
    got, want, state_after = _both(n_examples, n_draw, m, seed=1000 * n_examples + m)
    assert backends.last_backend["captum_kernel_shap_draws"] == "cpp"
    assert torch.equal(got, want)
    assert torch.equal(torch.get_rng_state(), state_after)  # where Captum leaves the generator
    sizes = want.sum(1)
    assert int(sizes.min()) >= 1 and int(sizes.max()) <= m - 1


@needs_cpp
def test_exact_redraws_of_unsure_samples(monkeypatch) -> None:
    # every sample "unsure": each is re-drawn by the real ops from its offset in the stream
    monkeypatch.setattr(C, "TIE_EPS", 10.0)
    got, want, state_after = _both(3, 30, 24, seed=7)
    assert torch.equal(got, want) and torch.equal(torch.get_rng_state(), state_after)


@needs_cpp
def test_self_check_falls_back_to_the_loop_when_the_stream_differs(monkeypatch) -> None:
    real = C._cpp_draws
    monkeypatch.setattr(C, "_cpp_draws", lambda *a: ~real(*a))  # a torch whose stream we misread
    C._cpp_matches_torch.cache_clear()
    try:
        torch.manual_seed(3)
        before = torch.get_rng_state()
        with pytest.warns(RuntimeWarning, match="per-sample loop"):
            assert not C._cpp_matches_torch()
        assert torch.equal(torch.get_rng_state(), before)  # the check leaves the generator alone
        got, want, _ = _both(2, 10, 20, seed=4)
        assert torch.equal(got, want)
    finally:
        C._cpp_matches_torch.cache_clear()
    monkeypatch.setattr(C, "_cpp_draws", real)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert C._cpp_matches_torch()


def test_reference_is_captums_loop() -> None:
    # Captum 0.9 KernelShap._sample_coalitions... per sample: Categorical(probs).sample(), randn(1, M)
    from torch.distributions.categorical import Categorical
    m = 12
    torch.manual_seed(11)
    z = C.reference_kernel_shap_captum_draws(2, 4, m)
    torch.manual_seed(11)
    dist = Categorical(C.captum_kernel_shap_probs(m))
    for e in range(2):
        for s in range(4):
            k = int(dist.sample())
            vals = torch.randn(1, m)
            assert torch.equal(z[e * 4 + s], (vals > torch.kthvalue(vals, m - k).values)[0])
        C.captum_fit_draw(m)


def test_few_features_and_torch_backend_use_the_loop() -> None:
    for backend, m in (("auto", 10), ("torch", 30)):
        torch.manual_seed(5)
        with use_backend(backend):
            got = C.kernel_shap_captum_draws(2, 6, m)
        torch.manual_seed(5)
        assert torch.equal(got, C.reference_kernel_shap_captum_draws(2, 6, m))


def test_multinomial_scores_captums_normalised_probabilities(monkeypatch) -> None:
    # Captum samples sizes from Categorical(probs), i.e. multinomial over probs / probs.sum():
    # near-ties of p / Exp(1) are decided by those exact float32 values
    from torch.distributions.categorical import Categorical
    seen = []
    real = torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda p, *a, **k: seen.append(p.clone()) or real(p, *a, **k))
    monkeypatch.setattr(C, "TIE_EPS", 10.0)  # the C++ path's exact re-draws call multinomial too
    for backend in ("torch", "cpp") if _ext.HAS_CPP else ("torch",):
        seen.clear()
        with use_backend(backend):
            C.kernel_shap_captum_draws(1, 2, 20)
        want = Categorical(C.captum_kernel_shap_probs(20)).probs
        assert seen and all(torch.equal(p[0], want) for p in seen)


def test_bad_counts_raise() -> None:
    from fastxai.ops.captum_draws import kernel_shap_captum_draws

    for args in [(-1, 2, 20), (2, -1, 20), (2, 2, 1)]:
        with pytest.raises(ValueError, match="kernel_shap_captum_draws"):
            kernel_shap_captum_draws(*args)
