"""Samplers: Captum-order draws (bulk replay == Captum's per-sample loop, bit for bit, and the
generator left in the same state) and seeded draws (chunk / device independent)."""
import pytest
import torch

import fastxai.attr._sampling.samplers as S

CPU = torch.device("cpu")


@pytest.mark.parametrize("n_examples,n_samples,m", [(3, 40, 16), (2, 50, 17), (4, 30, 40), (2, 25, 64), (1, 9, 100), (2, 2, 33), (2, 3, 20)])
@pytest.mark.parametrize("paired", [False, True])
def test_bulk_replay_equals_per_sample_loop(monkeypatch, n_examples, n_samples, m, paired):
    seed = 1000 * n_examples + m
    torch.manual_seed(seed)
    monkeypatch.setattr(S, "_FAST_MIN_FEATURES", 10 ** 9)  # Captum's literal loop
    slow = S.kernel_shap_coalitions(n_samples, n_examples, m, CPU, paired=paired)
    after_slow = torch.rand(5)
    monkeypatch.setattr(S, "_FAST_MIN_FEATURES", 16)
    torch.manual_seed(seed)
    fast = S.kernel_shap_coalitions(n_samples, n_examples, m, CPU, paired=paired)
    assert torch.equal(torch.rand(5), after_slow)  # generator left where Captum leaves it
    assert torch.equal(fast, slow)
    monkeypatch.setattr(S, "_TIE_EPS", 10.0)  # every sample "unsure": exact per-sample replays
    torch.manual_seed(seed)
    replayed = S.kernel_shap_coalitions(n_samples, n_examples, m, CPU, paired=paired)
    assert torch.equal(replayed, slow) and torch.equal(torch.rand(5), after_slow)


def test_captum_draw_orders():
    torch.manual_seed(3)
    z = S.lime_coalitions(7, 2, 5, CPU)
    torch.manual_seed(3)
    want0 = torch.bernoulli(torch.ones(7, 5) * 0.5)
    S.captum_fit_draw(5)
    want1 = torch.bernoulli(torch.ones(7, 5) * 0.5)
    assert torch.equal(z[:, 0], want0.bool()) and torch.equal(z[:, 1], want1.bool())
    torch.manual_seed(4)
    p = S.permutation_orders(3, 6, CPU)
    torch.manual_seed(4)
    assert torch.equal(p, torch.stack([torch.randperm(6) for _ in range(3)]))
    anti = S.permutation_orders(4, 6, CPU, seed=1, antithetic=True)
    assert torch.equal(anti[1], anti[0].flip(0)) and torch.equal(anti[3], anti[2].flip(0))


def test_seeded_kernel_shap_layout():
    z = S.kernel_shap_coalitions(9, 3, 12, CPU, seed=5, paired=True)
    assert z.shape == (9, 3, 12)
    assert bool(z[0].all()) and not bool(z[1].any())
    assert torch.equal(z[3], ~z[2]) and torch.equal(z[5], ~z[4])
    sizes = z[2:].sum(-1)
    assert int(sizes.min()) >= 1 and int(sizes.max()) <= 11
