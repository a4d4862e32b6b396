"""Model-parameter randomisation: Spearman vs scipy, cascading order, model untouched."""
from __future__ import annotations

import pytest
import torch

from fastxai.eval.randomisation import model_parameter_randomisation, spearman

stats = pytest.importorskip("scipy.stats")


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
                               torch.nn.Linear(5, 3))


def grad_x_input(model, x, t):
    x = x.clone().requires_grad_(True)
    out = model(x).gather(1, t[:, None]).sum()
    (g,) = torch.autograd.grad(out, x)
    return g * x


def test_spearman_matches_scipy_with_ties() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 4, (5, 30), generator=g).float()
    b = torch.randn(5, 30, generator=g)
    ours = spearman(a, b)
    ref = torch.tensor([stats.spearmanr(a[i].numpy(), b[i].numpy()).statistic for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_cascading_matches_manual_loop(order) -> None:
    net = _net()
    before = [p.clone() for p in net.parameters()]
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 1, 2, 0])
    res = model_parameter_randomisation(net, x, t, grad_x_input, order=order, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))  # model untouched
    names = ["0", "2", "4"] if order == "bottom_up" else ["4", "2", "0"]
    assert list(res) == names
    # manual reference
    import copy

    orig = grad_x_input(net, x, t).abs().detach()
    work = copy.deepcopy(net)
    for name in names:
        if order == "independent":
            work = copy.deepcopy(net)
        layer = dict(work.named_modules())[name]
        torch.manual_seed(7)
        layer.reset_parameters()
        e = grad_x_input(work, x, t).abs()
        ref = [stats.spearmanr(orig[i].numpy(), e[i].detach().numpy()).statistic for i in range(4)]
        torch.testing.assert_close(res[name], torch.tensor(ref, dtype=torch.float64), equal_nan=True)
