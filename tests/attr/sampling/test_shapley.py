"""ShapleyValueSampling / ShapleyValues: Captum parity (same global seed), exactness on known
models, convergence with n_samples, seeded determinism, bad input."""
import functools

import pytest
import torch

ca = pytest.importorskip("captum.attr")
from captum.testing.helpers.basic_models import BasicModel_MultiLayer, BasicModel_MultiLayer_MultiInput

from fastxai import backends
from fastxai._captum.errors import InputError, NonFiniteOutputError
from fastxai.attr.sampling import ShapleyValueSampling, ShapleyValues
from tests.attr.models import RowwiseNet
from tests.attr.sampling.helpers import assert_scaled_close, captum_pair, scalar_per_batch_forwards, Quadratic, brute_force_shapley, tanh_net


_pair = functools.partial(captum_pair, quiet=False)
_close = functools.partial(assert_scaled_close, tol=1e-5)


@pytest.mark.parametrize("ppe", [None, 1, 3])
def test_svs_matches_captum_same_seed(ppe):
    net = tanh_net()
    x = torch.randn(4, 6, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 2, 3, 3]])
    a, b = _pair(ca.ShapleyValueSampling, ShapleyValueSampling, net, x, target=1, n_samples=7,
                 feature_mask=mask, perturbations_per_eval=ppe or 1)
    _close(a, b)


def test_svs_multi_input_cross_tensor_ids_and_args():
    net = BasicModel_MultiLayer_MultiInput()
    x1 = torch.tensor([[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]])
    x2 = torch.tensor([[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]])
    x3 = torch.tensor([[0.0, 100.0, 10.0], [2.0, 10.0, 3.0]])
    masks = (torch.tensor([[1, 1, 1], [0, 1, 0]]), torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 2], [0, 0, 0]]))
    a, b = _pair(ca.ShapleyValueSampling, ShapleyValueSampling, net, (x1, x2, x3), target=0,
                 additional_forward_args=(1,), feature_mask=masks, n_samples=5, baselines=(2, 3.0, 4))
    _close(a, b)


@pytest.mark.parametrize("target", [[0, 1, 2], torch.tensor([2, 0, 1]), None])
def test_svs_target_forms_and_multi_output(target):
    net = tanh_net(4).float()
    x = torch.randn(3, 4)
    a, b = _pair(ca.ShapleyValueSampling, ShapleyValueSampling, net, x, target=target, n_samples=3)
    _close(a, b)


@pytest.mark.parametrize("kind", ["float", "int", "0d", "1d"])
def test_svs_scalar_per_batch_forward(kind):
    fns = scalar_per_batch_forwards(BasicModel_MultiLayer())
    x = torch.tensor([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]])
    a, b = _pair(ca.ShapleyValueSampling, ShapleyValueSampling, fns[kind], x,
                 feature_mask=torch.tensor([[0, 0, 1]]), n_samples=4)
    _close(a, b)
    assert b.shape == (1, 3)


def test_svs_per_example_mask():
    net = tanh_net()
    x = torch.randn(3, 6, dtype=torch.float64)
    pm = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 2, 0, 1, 2], [2, 2, 2, 1, 1, 0]])
    a, b = _pair(ca.ShapleyValueSampling, ShapleyValueSampling, net, x, target=0, n_samples=4, feature_mask=pm)
    _close(a, b)


def test_shapley_values_exact_matches_captum_and_brute_force():
    net = tanh_net()
    x = torch.randn(2, 6, dtype=torch.float64)
    mask = torch.tensor([[0, 1, 1, 2, 3, 4]])
    a = ca.ShapleyValues(net).attribute(x, target=2, feature_mask=mask)
    b = ShapleyValues(net).attribute(x, target=2, feature_mask=mask)
    _close(a, b)
    ref = brute_force_shapley(lambda r: net(r)[:, 2], x[:1], torch.zeros(1, 6, dtype=torch.float64), mask, 5)
    assert torch.allclose(b[0, [0, 1, 3, 4, 5]], ref[[0, 1, 2, 3, 4]], atol=1e-12)
    # efficiency
    assert torch.allclose(b[:, [0, 1, 3, 4, 5]].sum(1),
                          net(x)[:, 2] - net(torch.zeros_like(x))[:, 2], atol=1e-12)


def test_linear_and_additive_models_are_exact_with_one_permutation():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(7, generator=g, dtype=torch.float64)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64)
    base = torch.randn(1, 7, generator=g, dtype=torch.float64)
    additive = lambda z: (torch.sin(z) * w).sum(1) + z[:, 0] ** 2
    attr = ShapleyValueSampling(additive).attribute(x, baselines=base, n_samples=1, seed=3)
    want = (torch.sin(x) - torch.sin(base)) * w
    want[:, 0] += x[:, 0] ** 2 - base[:, 0] ** 2
    assert torch.allclose(attr, want, atol=1e-12)


def test_antithetic_pairs_are_exact_for_pairwise_interactions():
    f = Quadratic(6)
    x = torch.randn(3, 6, dtype=torch.float64)
    exact = ShapleyValues(f).attribute(x)
    anti = ShapleyValueSampling(f).attribute(x, n_samples=2, antithetic=True, seed=11)
    plain = ShapleyValueSampling(f).attribute(x, n_samples=2, seed=11)
    assert torch.allclose(anti, exact, atol=1e-12)
    assert (plain - exact).abs().max() > 1e-3


def test_svs_error_shrinks_with_n_samples():
    net = tanh_net(8)
    x = torch.randn(4, 8, dtype=torch.float64) * 2
    exact = ShapleyValues(net).attribute(x, target=0)
    err = {}
    for s in (4, 64):
        err[s] = sum(float((ShapleyValueSampling(net).attribute(x, target=0, n_samples=s, seed=k) - exact).abs().mean())
                     for k in range(6)) / 6
    assert err[64] < 0.45 * err[4], err  # ~ 1/sqrt(16) = 0.25 expected


def test_seeded_is_deterministic_chunk_and_backend_invariant():
    net = RowwiseNet(6)  # exactly batch-invariant: chunking may not change one bit
    x = torch.randn(5, 6, dtype=torch.float64)
    svs = ShapleyValueSampling(net)
    a = svs.attribute(x, target=1, n_samples=6, seed=7)
    b = svs.attribute(x, target=1, n_samples=6, seed=7, max_batch=5)
    with backends.use_backend("torch"):
        c = svs.attribute(x, target=1, n_samples=6, seed=7, perturbations_per_eval=2)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, svs.attribute(x, target=1, n_samples=6, seed=8))


def test_several_targets_in_one_pass():
    net = tanh_net()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    tk = torch.tensor([[0, 2], [1, 1], [2, 0]])
    both = ShapleyValueSampling(net).attribute(x, target=tk, n_samples=4, seed=5)
    assert both.shape == (3, 2, 6) and not both.requires_grad
    for k in range(2):
        one = ShapleyValueSampling(net).attribute(x, target=tk[:, k], n_samples=4, seed=5)
        assert torch.allclose(both[:, k], one, atol=1e-12)


def test_bad_input():
    net = tanh_net()
    x = torch.randn(2, 6, dtype=torch.float64)
    with pytest.raises(InputError, match="feature_mask"):
        ShapleyValueSampling(net).attribute(x, target=0, feature_mask=torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(InputError, match="n_samples"):
        ShapleyValueSampling(net).attribute(x, target=0, n_samples=0)
    with pytest.raises(InputError, match="per-example"):
        ShapleyValueSampling(lambda z: net(z)[:, 0].sum()).attribute(
            x, n_samples=2, feature_mask=torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 2, 0, 1, 2]]))
    with pytest.warns(UserWarning, match="missing some ids"):
        ShapleyValueSampling(net).attribute(x, target=0, n_samples=2, feature_mask=torch.tensor([[0, 0, 2, 2, 3, 3]]))

    def nan_model(z):
        out = net(z)[:, 0].clone()
        out[(z[:, 0] == 0) & (z[:, 1] != 1)] = float("nan")  # NaN for some partial coalitions
        return out

    with pytest.raises(NonFiniteOutputError, match="chunk"):
        ShapleyValueSampling(nan_model).attribute(x + 5, baselines=torch.tensor([[0.0, 1, 1, 1, 1, 1]], dtype=torch.float64),
                                                  n_samples=2, seed=0)
