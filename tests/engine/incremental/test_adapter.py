"""Occlusion / FeatureAblation through the incremental path: same numbers as the normal path
and Captum, ``last_plan`` says which path ran and why, bad arguments are refused."""
import pytest
import torch
from torch import nn

from fastxai._captum.errors import InputError, NonFiniteOutputError
from fastxai.attr import FeatureAblation, Occlusion
from fastxai.engine.incremental import PlanOptions
from tests.engine.incremental.nets import FunctionalNet, GeometryNet, randomise_bn

captum_attr = pytest.importorskip("captum.attr")


def _net() -> nn.Module:
    return randomise_bn(GeometryNet()).double()


def test_occlusion_equals_the_full_path_and_captum() -> None:
    net, x = _net(), torch.randn(3, 3, 28, 28, dtype=torch.float64)
    kw = dict(sliding_window_shapes=(3, 6, 6), strides=(3, 3, 3), target=1,
              baselines=torch.randn(1, 3, 28, 28, dtype=torch.float64))
    occ = Occlusion(net)
    got = occ.attribute(x, **kw)
    assert occ.last_plan is not None and occ.last_plan.path == "incremental", occ.last_plan
    assert occ.last_plan.flop_ceiling > occ.last_plan.planned_speedup >= PlanOptions().min_speedup
    full = occ.attribute(x, **kw, incremental=False)
    assert occ.last_plan.path == "full" and "incremental=False" in occ.last_plan.reason
    torch.testing.assert_close(got, full, atol=1e-6, rtol=0)  # float32 results of float64 sums
    torch.testing.assert_close(got, captum_attr.Occlusion(net).attribute(x, **kw), atol=1e-6, rtol=0)


def test_multi_target_channel_windows_float32() -> None:
    net = FunctionalNet().eval()
    x = torch.randn(2, 3, 24, 24)
    kw = dict(sliding_window_shapes=(1, 5, 5), strides=(1, 3, 3), baselines=0.25)
    occ = Occlusion(net)
    got = occ.attribute(x, target=torch.tensor([[0, 2], [1, 1]]), **kw, incremental=True)
    assert got.shape == (2, 2, 3, 24, 24) and occ.last_plan.path == "incremental"
    for k, t in enumerate(([0, 1], [2, 1])):
        ref = captum_attr.Occlusion(net).attribute(x, target=t, **kw)
        torch.testing.assert_close(got[:, k], ref, atol=2e-5 * float(ref.abs().max()), rtol=0)


def test_feature_ablation_with_compact_segments() -> None:
    net, x = _net(), torch.randn(2, 3, 24, 24, dtype=torch.float64)
    grid = torch.arange(36).reshape(6, 6).repeat_interleave(4, 0).repeat_interleave(4, 1)
    per_example = torch.stack([grid, grid.flip(1) + 3]).unsqueeze(1)  # (N, 1, H, W), ids 0..38
    for mask in (grid.reshape(1, 1, 24, 24), per_example):
        fa = FeatureAblation(net)
        got = fa.attribute(x, target=0, feature_mask=mask)
        assert fa.last_plan.path == "incremental", fa.last_plan
        ref = captum_attr.FeatureAblation(net).attribute(x, target=0, feature_mask=mask)
        torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)


def test_calls_the_incremental_path_cannot_take_say_why() -> None:
    net = _net()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    occ = Occlusion(net)
    occ.attribute(x, (3, 4, 4), target=0, additional_forward_args=None)
    occ.attribute((x,), ((3, 4, 4),), target=0)
    assert occ.last_plan.path == "incremental"  # a 1-tuple is still one image tensor
    f = lambda a, b: net(a + b)  # noqa: E731
    occ = Occlusion(f)
    occ.attribute((x, x), ((3, 4, 4), (3, 4, 4)), target=0)
    assert occ.last_plan.path == "full" and "2 input tensors" in occ.last_plan.reason
    occ = Occlusion(lambda a, s: net(a) * s)
    occ.attribute(x, (3, 4, 4), target=0, additional_forward_args=(2.0,))
    assert "additional_forward_args" in occ.last_plan.reason
    occ = Occlusion(lambda a: net(a))
    occ.attribute(x, (3, 4, 4), target=0)
    assert "not a torch.nn.Module" in occ.last_plan.reason
    with pytest.raises(InputError, match="incremental path cannot run: .*not a torch.nn.Module"):
        occ.attribute(x, (3, 4, 4), target=0, incremental=True)


def test_argument_checks() -> None:
    occ, x = Occlusion(_net()), torch.randn(1, 3, 16, 16, dtype=torch.float64)
    with pytest.raises(InputError, match="incremental must be"):
        occ.attribute(x, (3, 4, 4), target=0, incremental="yes")
    with pytest.raises(InputError, match="incremental_tau"):
        occ.attribute(x, (3, 4, 4), target=0, incremental_tau=0.0)
    with pytest.raises(InputError, match="needs incremental="):
        occ.attribute(x, (3, 4, 4), target=0, incremental=False, incremental_tau=0.5)


def test_non_finite_outputs_are_still_caught() -> None:
    occ, x = Occlusion(_net()), torch.randn(1, 3, 16, 16, dtype=torch.float64)
    with pytest.raises(NonFiniteOutputError):
        occ.attribute(x, (3, 4, 4), target=0, baselines=float("nan"), incremental=True)


def test_approximate_mode_is_opt_in_and_labelled() -> None:
    net, x = _net(), torch.randn(1, 3, 32, 32, dtype=torch.float64)
    occ = Occlusion(net)
    exact = occ.attribute(x, (3, 4, 4), (3, 4, 4), target=0)
    assert not occ.last_plan.approximate
    same = occ.attribute(x, (3, 4, 4), (3, 4, 4), target=0, incremental_tau=1.0)
    torch.testing.assert_close(same, exact)
    approx = occ.attribute(x, (3, 4, 4), (3, 4, 4), target=0, incremental_tau=0.3)
    assert occ.last_plan.approximate and occ.last_plan.tau == 0.3 and "approximate" in occ.last_plan.reason
    assert approx.shape == exact.shape and bool(torch.isfinite(approx).all())
    assert not torch.allclose(approx, exact)  # the threshold did cut changes


def test_rows_split_by_max_batch_below_n() -> None:
    """max_batch below N splits one window's rows over several forwards: the incremental
    forward still returns exactly the rows it was asked for."""
    net, x = _net(), torch.randn(3, 3, 20, 20, dtype=torch.float64)
    kw = dict(sliding_window_shapes=(3, 5, 5), strides=(3, 3, 3), target=torch.tensor([0, 1, 2]))
    occ = Occlusion(net)
    got = occ.attribute(x, **kw, max_batch=2, incremental=True)
    assert occ.last_plan.path == "incremental"
    ref = Occlusion(net).attribute(x, **kw, incremental=False)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)


def test_feature_ablation_default_mask_every_element_its_own_feature() -> None:
    """feature_mask=None: each (channel, position) is a feature; the segments differ per channel."""
    net, x = _net(), torch.randn(2, 3, 12, 12, dtype=torch.float64)
    fa = FeatureAblation(net)
    got = fa.attribute(x, target=1, baselines=0.5, incremental=True)
    assert fa.last_plan.path == "incremental"
    ref = captum_attr.FeatureAblation(net).attribute(x, target=1, baselines=0.5)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)
