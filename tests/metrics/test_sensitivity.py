"""fastxai.metrics.sensitivity_max == captum.metrics.sensitivity_max for the same seed."""
from __future__ import annotations

import pytest
import torch

from fastxai.metrics import avg_sensitivity, sensitivity_max

cm = pytest.importorskip("captum.metrics")
ca = pytest.importorskip("captum.attr")


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(10, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))


def _both(seed, fn_ours, fn_theirs, *args, **kwargs):
    torch.manual_seed(seed)
    ours = fn_ours(*args, **kwargs)
    torch.manual_seed(seed)
    theirs = fn_theirs(*args, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("max_batch", [None, 6, 11])
def test_saliency_matches_captum(max_batch) -> None:
    net = _net()
    sal = ca.Saliency(net)
    x = torch.randn(3, 10, generator=torch.Generator().manual_seed(1))
    ours, theirs = _both(2, sensitivity_max, cm.sensitivity_max, sal.attribute, x, n_perturb_samples=5,
                         max_examples_per_batch=max_batch, target=torch.tensor([0, 1, 2]))
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, theirs)


def test_ig_with_baselines_and_radius_matches_captum() -> None:
    net = _net()
    ig = ca.IntegratedGradients(net)
    x = torch.randn(2, 10, generator=torch.Generator().manual_seed(3))
    ours, theirs = _both(4, sensitivity_max, cm.sensitivity_max, ig.attribute, x, perturb_radius=0.1,
                         n_perturb_samples=4, max_examples_per_batch=4, target=1, baselines=torch.zeros(2, 10),
                         n_steps=8)
    torch.testing.assert_close(ours, theirs)


def test_avg_sensitivity_is_mean_of_same_draws() -> None:
    x = torch.randn(2, 10, generator=torch.Generator().manual_seed(5))

    def expl(inputs, **_):
        t = inputs[0] if isinstance(inputs, tuple) else inputs
        return (t ** 2,)

    draws = []

    def perturb(inputs, r):
        out = inputs + torch.full_like(inputs, 0.01) * (len(draws) + 1)
        draws.append(out)
        return out

    avg = avg_sensitivity(expl, x, perturb_func=perturb, n_perturb_samples=3)
    p = draws[0].reshape(2, 3, 10)
    ref = ((x[:, None] ** 2 - p ** 2).norm(dim=2) / (x ** 2).norm(dim=1, keepdim=True)).mean(1)
    torch.testing.assert_close(avg, ref)


@pytest.mark.parametrize("fn", [sensitivity_max, avg_sensitivity])
@pytest.mark.parametrize("kwargs,name", [({"n_perturb_samples": 0}, "n_perturb_samples"),
                                         ({"max_examples_per_batch": -1}, "max_examples_per_batch")])
def test_bad_counts_fail_at_the_call_naming_the_argument(fn, kwargs, name) -> None:
    from fastxai._captum.errors import InputError

    calls = []

    def explain(x):
        calls.append(1)
        return x

    with pytest.raises(InputError, match=name):
        fn(explain, torch.randn(2, 10), **kwargs)
    assert not calls
