"""Samplers: Captum-order layouts (the draws themselves: tests/ops/test_captum_draws.py) and
seeded draws (chunk / device independent)."""
import pytest
import torch

import fastxai.engine.sampling as S
from fastxai.ops.captum_draws import captum_fit_draw, reference_kernel_shap_captum_draws

CPU = torch.device("cpu")


@pytest.mark.parametrize("paired", [False, True])
def test_captum_order_layout(paired):
    # sample-major (S, N, M): all on, all off, then example e's draws in Captum's order
    torch.manual_seed(2)
    z = S.kernel_shap_coalitions(9, 3, 20, CPU, paired=paired)
    torch.manual_seed(2)
    n_draw = 4 if paired else 7
    draws = reference_kernel_shap_captum_draws(3, n_draw, 20).reshape(3, n_draw, 20)
    assert z.shape == (9, 3, 20) and bool(z[0].all()) and not bool(z[1].any())
    for e in range(3):
        want = torch.stack([draws[e], ~draws[e]], 1).reshape(-1, 20)[:7] if paired else draws[e]
        assert torch.equal(z[2:, e], want)


def test_captum_draw_orders():
    torch.manual_seed(3)
    z = S.lime_coalitions(7, 2, 5, CPU)
    torch.manual_seed(3)
    want0 = torch.bernoulli(torch.ones(7, 5) * 0.5)
    captum_fit_draw(5)
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
