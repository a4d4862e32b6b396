"""Parity with Captum 0.9 for Saliency, InputXGradient, IntegratedGradients, GradientShap,
NoiseTunnel (float64 to 1e-10, float32 to rtol 1e-4), plus completeness and seeded draws."""
import numpy as np
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from tests.attr.gradient.models import assert_close, conv_net, mlp, multi_input  # noqa: E402

METHODS = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    yield


@pytest.mark.parametrize("method", METHODS)
def test_ig_conv_float64(method):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    b = torch.randn(1, 3, 8, 8, dtype=torch.float64) * 0.1
    a, d = fa.IntegratedGradients(m).attribute(x, b, target=[0, 1, 2], n_steps=12, method=method,
                                              return_convergence_delta=True)
    c, e = captum_attr.IntegratedGradients(m).attribute(x, b, target=[0, 1, 2], n_steps=12, method=method,
                                                        return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)


@pytest.mark.parametrize("ibs", [None, 1, 7, 30])
def test_ig_internal_batch_size_and_float32(ibs):
    m = mlp(torch.float32)
    x = torch.randn(5, 10)
    a = fa.IntegratedGradients(m).attribute(x, target=1, n_steps=9, internal_batch_size=ibs)
    c = captum_attr.IntegratedGradients(m).attribute(x, target=1, n_steps=9, internal_batch_size=ibs)
    assert_close(a, c, torch.float32)


def test_ig_multi_input_args_and_no_multiply():
    m = multi_input()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    for mult in (True, False):
        a, d = fa.IntegratedGradients(m, multiply_by_inputs=mult).attribute(
            (x1, x2), (0.5, 0.1), target=torch.tensor([0, 1, 2, 0]), additional_forward_args=(2.0,),
            n_steps=10, return_convergence_delta=True, max_batch=12)
        c, e = captum_attr.IntegratedGradients(m, multiply_by_inputs=mult).attribute(
            (x1, x2), (0.5, 0.1), target=torch.tensor([0, 1, 2, 0]), additional_forward_args=(2.0,),
            n_steps=10, return_convergence_delta=True)
        assert isinstance(a, tuple) and len(a) == 2
        assert_close(a, c)
        assert_close(d, e)


def test_saliency_and_input_x_gradient():
    m = conv_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for abs_ in (True, False):
        assert_close(fa.Saliency(m).attribute(x, target=1, abs=abs_),
                     captum_attr.Saliency(m).attribute(x, target=1, abs=abs_))
    assert_close(fa.InputXGradient(m).attribute(x, target=(2,)),
                 captum_attr.InputXGradient(m).attribute(x, target=(2,)))


@pytest.mark.parametrize("stdevs", [0.0, 0.2])
def test_gradient_shap_matches_captum_draws(stdevs):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    bl = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    torch.manual_seed(3); np.random.seed(3)
    a, d = fa.GradientShap(m).attribute(x, bl, n_samples=4, stdevs=stdevs, target=1,
                                        return_convergence_delta=True, max_batch=5)
    torch.manual_seed(3); np.random.seed(3)
    c, e = captum_attr.GradientShap(m).attribute(x, bl, n_samples=4, stdevs=stdevs, target=1,
                                                 return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)
    assert d.shape == (12,)


def test_gradient_shap_seed_is_chunk_independent():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    bl = torch.randn(6, 10, dtype=torch.float64)
    a = fa.GradientShap(m).attribute(x, bl, n_samples=7, stdevs=0.3, target=0, seed=11, max_batch=3)
    b = fa.GradientShap(m).attribute(x, bl, n_samples=7, stdevs=0.3, target=0, seed=11)
    c = fa.GradientShap(m).attribute(x, bl, n_samples=7, stdevs=0.3, target=0, seed=12)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_ig(nt_type):
    m = conv_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.manual_seed(5)
    a, d = fa.NoiseTunnel(fa.IntegratedGradients(m)).attribute(
        x, nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.2, target=0, n_steps=6,
        return_convergence_delta=True)
    torch.manual_seed(5)
    c, e = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(m)).attribute(
        x, nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.2, target=0, n_steps=6,
        return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)


def test_noise_tunnel_saliency_baseline_distrib_and_seed():
    m = multi_input()
    x1, x2 = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    torch.manual_seed(2); np.random.seed(2)
    a = fa.NoiseTunnel(fa.Saliency(m)).attribute((x1, x2), nt_samples=3, stdevs=(0.1, 0.3), target=[0, 1, 2],
                                                 additional_forward_args=(2.0,))
    torch.manual_seed(2); np.random.seed(2)
    c = captum_attr.NoiseTunnel(captum_attr.Saliency(m)).attribute(
        (x1, x2), nt_samples=3, stdevs=(0.1, 0.3), target=[0, 1, 2], additional_forward_args=(2.0,))
    assert_close(a, c)
    bl = (torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64))
    torch.manual_seed(2); np.random.seed(2)
    a = fa.NoiseTunnel(fa.IntegratedGradients(m)).attribute(
        (x1, x2), nt_samples=4, nt_samples_batch_size=3, stdevs=0.1, draw_baseline_from_distrib=True,
        baselines=bl, target=1, n_steps=5)
    torch.manual_seed(2); np.random.seed(2)
    c = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(m)).attribute(
        (x1, x2), nt_samples=4, nt_samples_batch_size=3, stdevs=0.1, draw_baseline_from_distrib=True,
        baselines=bl, target=1, n_steps=5)
    assert_close(a, c)
    s1 = fa.NoiseTunnel(fa.Saliency(m)).attribute((x1, x2), nt_samples=5, stdevs=0.2, target=0, seed=7,
                                                  nt_samples_batch_size=2)
    s2 = fa.NoiseTunnel(fa.Saliency(m)).attribute((x1, x2), nt_samples=5, stdevs=0.2, target=0, seed=7)
    assert_close(s1, s2)


def test_fastxai_method_inside_captum_noise_tunnel():
    """attribute.__wrapped__ / has_convergence_delta / multiplies_by_inputs are enough for Captum."""
    m = mlp()
    x = torch.randn(3, 10, dtype=torch.float64)
    torch.manual_seed(1)
    a = captum_attr.NoiseTunnel(fa.IntegratedGradients(m)).attribute(x, nt_samples=3, target=0, n_steps=5)
    torch.manual_seed(1)
    c = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(m)).attribute(x, nt_samples=3, target=0, n_steps=5)
    assert_close(a, c)


def test_gausslegendre_converges_faster_than_trapezoid():
    m = mlp()
    x = torch.randn(6, 10, dtype=torch.float64)
    ig = fa.IntegratedGradients(m)

    def err(method, n):
        _, d = ig.attribute(x, target=0, n_steps=n, method=method, return_convergence_delta=True)
        return float(d.abs().max())

    target = err("riemann_trapezoid", 64)
    n_gl = next(n for n in range(2, 65) if err("gausslegendre", n) <= target)
    assert n_gl < 64 / 2


def test_names_and_flags():
    assert fa.IntegratedGradients.get_name() == "Integrated Gradients"
    m = mlp()
    assert fa.IntegratedGradients(m).has_convergence_delta()
    assert not fa.Saliency(m).has_convergence_delta()
    assert fa.IntegratedGradients(m, multiply_by_inputs=False).multiplies_by_inputs is False
    assert hasattr(fa.IntegratedGradients.attribute, "__wrapped__")


class _Elementwise(torch.nn.Module):
    """Row gradients that do not depend on how many rows share a forward."""

    def forward(self, x):
        return torch.tanh(1.5 * x).sum(1)


def test_ig_result_does_not_depend_on_chunking():
    # the chunk size is calibrated per call; the attributions (and so the returned delta versus
    # one recomputed from them) must still be bit-identical from call to call
    torch.manual_seed(0)
    x = torch.randn(3, 5)
    ig = fa.IntegratedGradients(_Elementwise())
    runs = [ig.attribute(x, method="riemann_trapezoid", n_steps=300, internal_batch_size=ibs)
            for ibs in (3, 3 * 7, 3 * 300, None)]
    for r in runs[1:]:
        assert torch.equal(r, runs[0])
    a, d = ig.attribute(x, n_steps=300, method="riemann_trapezoid", return_convergence_delta=True)
    assert torch.equal(d, ig.compute_convergence_delta(runs[0], 0.0, x))


def test_convergence_delta_default_start_point_and_row_check():
    net = mlp(torch.float32)
    x = torch.randn(4, 10)
    a, d = fa.IntegratedGradients(net).attribute(x, target=1, n_steps=20, return_convergence_delta=True)
    # start_point None means zeros, as in Captum
    ours = fa.IntegratedGradients(net).compute_convergence_delta(a, None, x, target=1)
    theirs = captum_attr.IntegratedGradients(net).compute_convergence_delta(a, None, x, target=1)
    torch.testing.assert_close(ours, d, rtol=0, atol=0)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # attributions and end_point with different numbers of rows: AssertionError naming them
    with pytest.raises(AssertionError, match="end_point"):
        fa.GradientShap(net).compute_convergence_delta(a, x, torch.cat([x, x]), target=1)
