"""Parity with Captum 0.9 for the backward-rule methods: GuidedBackprop, Deconvolution,
DeepLift, DeepLiftShap, LRP and its rules (conv net with BatchNorm, ReLU, MaxPool and a residual
add module; an MLP in float32; other nonlinearities)."""
import copy

import pytest
import torch
from torch import nn

captum_attr = pytest.importorskip("captum.attr")
from captum.attr._utils import lrp_rules as captum_rules  # noqa: E402
from captum.attr._utils.custom_modules import Addition_Module  # noqa: E402

import fastxai.attr as fa  # noqa: E402
from tests.attr.gradient.models import assert_close, conv_net, mlp, multi_input  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    yield


@pytest.fixture
def net():
    return conv_net()


@pytest.fixture
def x():
    return torch.randn(3, 3, 8, 8, dtype=torch.float64)


@pytest.mark.parametrize("cls", ["GuidedBackprop", "Deconvolution"])
def test_modified_relu(net, x, cls):
    assert_close(getattr(fa, cls)(net).attribute(x, target=1), getattr(captum_attr, cls)(net).attribute(x, target=1))


@pytest.mark.parametrize("baseline", ["zero", "random"])
def test_deep_lift(net, x, baseline):
    bl = None if baseline == "zero" else torch.randn_like(x) * 0.1
    a, d = fa.DeepLift(net).attribute(x, bl, target=1, return_convergence_delta=True)
    c, e = captum_attr.DeepLift(net).attribute(x, bl, target=1, return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)
    a = fa.DeepLift(net, multiply_by_inputs=False).attribute(x, bl, target=0)
    c = captum_attr.DeepLift(net, multiply_by_inputs=False).attribute(x, bl, target=0)
    assert_close(a, c)


def test_deep_lift_other_nonlinearities_and_multi_input():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.ELU(),
                      nn.Linear(8, 3), nn.Softmax(dim=1)).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    a, d = fa.DeepLift(m).attribute(x, target=2, return_convergence_delta=True)
    c, e = captum_attr.DeepLift(m).attribute(x, target=2, return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)
    mm = multi_input()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    a = fa.DeepLift(mm).attribute((x1, x2), target=0, additional_forward_args=(2.0,))
    c = captum_attr.DeepLift(mm).attribute((x1, x2), target=0, additional_forward_args=(2.0,))
    assert_close(a, c)


def test_deep_lift_shap(net, x):
    bl = torch.randn(4, 3, 8, 8, dtype=torch.float64) * 0.1
    a, d = fa.DeepLiftShap(net).attribute(x, bl, target=[0, 1, 2], return_convergence_delta=True)
    c, e = captum_attr.DeepLiftShap(net).attribute(x, bl, target=[0, 1, 2], return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)
    with pytest.raises(AssertionError):
        fa.DeepLiftShap(net).attribute(x, bl[:1], target=0)


def _lrp_net():
    m = conv_net()
    m.block.add = Addition_Module()
    return m


def test_lrp_epsilon(x):
    m = _lrp_net()
    a, d = fa.LRP(m).attribute(x, target=1, return_convergence_delta=True)
    c, e = captum_attr.LRP(m).attribute(x, target=1, return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)


def test_lrp_rules_per_layer_and_model_unchanged(x):
    m = _lrp_net()
    before = copy.deepcopy(m.state_dict())
    ours, theirs = copy.deepcopy(m), copy.deepcopy(m)
    ours.conv0.rule, theirs.conv0.rule = fa.GammaRule(0.3), captum_rules.GammaRule(0.3)
    ours.fc.rule, theirs.fc.rule = fa.Alpha1_Beta0_Rule(), captum_rules.Alpha1_Beta0_Rule()
    ours.bn0.rule, theirs.bn0.rule = fa.IdentityRule(), captum_rules.IdentityRule()
    ours.conv3.rule, theirs.conv3.rule = fa.EpsilonRule(1e-3), captum_rules.EpsilonRule(1e-3)
    assert_close(fa.LRP(ours).attribute(x, target=1), captum_attr.LRP(theirs).attribute(x, target=1))
    # composable per layer type, Captum rule objects accepted too
    by_type = fa.LRP(m, rules={nn.Conv2d: fa.GammaRule(0.3)}).attribute(x, target=1)
    manual = copy.deepcopy(m)
    for mod in manual.modules():
        if type(mod) is nn.Conv2d:
            mod.rule = captum_rules.GammaRule(0.3)
    assert_close(by_type, captum_attr.LRP(manual).attribute(x, target=1))
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])
    assert not any(hasattr(mod, "rule") for mod in m.modules())


def test_lrp_unsupported_layer():
    m = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 2)).double()
    with pytest.raises(TypeError, match="no rule defined"):
        fa.LRP(m).attribute(torch.randn(2, 3, dtype=torch.float64), target=0)


def test_mlp_float32_family():
    m = mlp(torch.float32)
    x = torch.randn(8, 10)
    for name in ("GuidedBackprop", "Deconvolution"):
        assert_close(getattr(fa, name)(m).attribute(x, target=1),
                     getattr(captum_attr, name)(m).attribute(x, target=1), torch.float32)
    assert_close(fa.DeepLift(m).attribute(x, target=1), captum_attr.DeepLift(m).attribute(x, target=1), torch.float32)
    assert_close(fa.LRP(m).attribute(x, target=1), captum_attr.LRP(m).attribute(x, target=1), torch.float32)


def test_deep_lift_reused_module_matches_unshared_model():
    # deliberate difference: Captum raises a RuntimeError when a module is called twice; fastxai's
    # rules act per call, so the result is the one of the same network with separate modules
    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1, self.relu, self.lin2 = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)

        def forward(self, x):
            return self.relu(self.lin2(self.relu(self.lin1(x))))

    class Separate(nn.Module):
        def __init__(self, r):
            super().__init__()
            self.lin1, self.relu1, self.lin2, self.relu2 = r.lin1, nn.ReLU(), r.lin2, nn.ReLU()

        def forward(self, x):
            return self.relu2(self.lin2(self.relu1(self.lin1(x))))

    torch.manual_seed(0)
    r = Reused().double()
    x, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    for t in (0, 1):
        assert_close(fa.DeepLift(r).attribute(x, b, target=t),
                     captum_attr.DeepLift(Separate(r)).attribute(x, b, target=t))
