"""The shared checks, held against *every* public attribution class: the preflight runs before
the first forward (BatchNorm in training mode refused with its running statistics untouched,
stochastic modules warned about by name, an empty batch refused naming ``inputs``, bad
``max_batch`` / ``max_memory`` refused naming them), and one non-finite rule with one opt-out
for the perturbation and the gradient loop."""
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastxai
import fastxai.attr as fa
from fastxai._captum.errors import InputError, NonFiniteOutputError
from fastxai.engine.checks import allow_non_finite, check_finite, non_finite_allowed, preflight
from tests.attr.attention.test_rollout import TinyViT


class Net(nn.Module):
    """(N, 3, 8, 8) -> (N, 3): conv, BatchNorm, ReLU, Dropout, linear; counts its forwards."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 8 * 8, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(self.drop(self.relu(self.bn(self.conv(x)))).flatten(1))


X = torch.randn(2, 3, 8, 8)
MASK = (torch.arange(64) // 16).reshape(1, 1, 8, 8)


def _cases():
    """name -> (build(model) -> method, call(method, x))."""
    base = torch.zeros(3, 3, 8, 8)
    return {
        "FeatureAblation": (fa.FeatureAblation, lambda m, x: m.attribute(x, target=0, feature_mask=MASK)),
        "Occlusion": (fa.Occlusion, lambda m, x: m.attribute(x, (3, 4, 4), strides=(3, 4, 4), target=0)),
        "FeaturePermutation": (fa.FeaturePermutation, lambda m, x: m.attribute(x, target=0, feature_mask=MASK)),
        "DataLoaderAttribution": (lambda f: fa.DataLoaderAttribution(fa.FeatureAblation(f)),
                                  lambda m, x: m.attribute(DataLoader(TensorDataset(x), batch_size=2), feature_mask=MASK,
                                                           to_metric=lambda a: a.sum(0))),
        "LayerFeatureAblation": (lambda f: fa.LayerFeatureAblation(f, f.conv),
                                 lambda m, x: m.attribute(x, target=0, layer_mask=torch.arange(4).reshape(1, 4, 1, 1))),
        "LayerFeaturePermutation": (lambda f: fa.LayerFeaturePermutation(f, f.conv),
                                    lambda m, x: m.attribute(x, target=0, layer_mask=torch.arange(4).reshape(1, 4, 1, 1))),
        "NeuronFeatureAblation": (lambda f: fa.NeuronFeatureAblation(f, f.conv),
                                  lambda m, x: m.attribute(x, (1, 2, 3), feature_mask=MASK)),
        "RISE": (fa.RISE, lambda m, x: m.attribute(x, target=0, n_masks=8, grid_size=2, seed=0)),
        "ShapleyValueSampling": (fa.ShapleyValueSampling, lambda m, x: m.attribute(x, target=0, feature_mask=MASK, n_samples=2)),
        "ShapleyValues": (fa.ShapleyValues, lambda m, x: m.attribute(x, target=0, feature_mask=MASK)),
        "KernelShap": (fa.KernelShap, lambda m, x: m.attribute(x, target=0, feature_mask=MASK, n_samples=8)),
        "Lime": (fa.Lime, lambda m, x: m.attribute(x, target=0, feature_mask=MASK, n_samples=8)),
        "LimeBase": (lambda f: fa.LimeBase(f, fa.LinearSurrogate(), lambda *a, **k: 1.0,
                                           lambda x, **k: torch.ones(1, 4), True,
                                           lambda z, x, **k: x, None),
                     lambda m, x: m.attribute(x[:1], target=0, n_samples=3)),
        "Saliency": (fa.Saliency, lambda m, x: m.attribute(x, target=0)),
        "InputXGradient": (fa.InputXGradient, lambda m, x: m.attribute(x, target=0)),
        "IntegratedGradients": (fa.IntegratedGradients, lambda m, x: m.attribute(x, target=0, n_steps=4)),
        "GradientShap": (fa.GradientShap, lambda m, x: m.attribute(x, base, target=0, n_samples=2)),
        "NoiseTunnel": (lambda f: fa.NoiseTunnel(fa.Saliency(f)), lambda m, x: m.attribute(x, nt_samples=2, target=0)),
        "DeepLift": (fa.DeepLift, lambda m, x: m.attribute(x, target=0)),
        "DeepLiftShap": (fa.DeepLiftShap, lambda m, x: m.attribute(x, base, target=0)),
        "GuidedBackprop": (fa.GuidedBackprop, lambda m, x: m.attribute(x, target=0)),
        "Deconvolution": (fa.Deconvolution, lambda m, x: m.attribute(x, target=0)),
        "LRP": (fa.LRP, lambda m, x: m.attribute(x, target=0)),
        "LayerActivation": (lambda f: fa.LayerActivation(f, f.conv), lambda m, x: m.attribute(x)),
        "LayerGradientXActivation": (lambda f: fa.LayerGradientXActivation(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "LayerGradCam": (lambda f: fa.LayerGradCam(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "GuidedGradCam": (lambda f: fa.GuidedGradCam(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "LayerIntegratedGradients": (lambda f: fa.LayerIntegratedGradients(f, f.conv), lambda m, x: m.attribute(x, target=0, n_steps=4)),
        "LayerConductance": (lambda f: fa.LayerConductance(f, f.conv), lambda m, x: m.attribute(x, target=0, n_steps=4)),
        "GradCAMPlusPlus": (lambda f: fa.GradCAMPlusPlus(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "XGradCAM": (lambda f: fa.XGradCAM(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "EigenCAM": (lambda f: fa.EigenCAM(f, f.conv), lambda m, x: m.attribute(x)),
        "ScoreCAM": (lambda f: fa.ScoreCAM(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "LayerDeepLift": (lambda f: fa.LayerDeepLift(f, f.conv), lambda m, x: m.attribute(x, target=0)),
        "LayerDeepLiftShap": (lambda f: fa.LayerDeepLiftShap(f, f.conv), lambda m, x: m.attribute(x, base, target=0)),
        "LayerGradientShap": (lambda f: fa.LayerGradientShap(f, f.conv), lambda m, x: m.attribute(x, base, target=0, n_samples=2)),
        "LayerLRP": (lambda f: fa.LayerLRP(f, f.conv, rules={nn.BatchNorm2d: fa.EpsilonRule()}),
                     lambda m, x: m.attribute(x, target=0)),
        "InternalInfluence": (lambda f: fa.InternalInfluence(f, f.conv), lambda m, x: m.attribute(x, target=0, n_steps=4)),
        "NeuronGradient": (lambda f: fa.NeuronGradient(f, f.conv), lambda m, x: m.attribute(x, (1, 2, 2))),
        "NeuronIntegratedGradients": (lambda f: fa.NeuronIntegratedGradients(f, f.conv),
                                      lambda m, x: m.attribute(x, (1, 2, 2), n_steps=4)),
        "NeuronConductance": (lambda f: fa.NeuronConductance(f, f.conv),
                              lambda m, x: m.attribute(x, (1, 2, 2), target=0, n_steps=4)),
        "NeuronDeepLift": (lambda f: fa.NeuronDeepLift(f, f.conv), lambda m, x: m.attribute(x, (1, 2, 2))),
        "NeuronDeepLiftShap": (lambda f: fa.NeuronDeepLiftShap(f, f.conv), lambda m, x: m.attribute(x, (1, 2, 2), base)),
        "NeuronGradientShap": (lambda f: fa.NeuronGradientShap(f, f.conv),
                               lambda m, x: m.attribute(x, (1, 2, 2), base, n_samples=2)),
        "NeuronGuidedBackprop": (lambda f: fa.NeuronGuidedBackprop(f, f.conv), lambda m, x: m.attribute(x, (1, 2, 2))),
        "NeuronDeconvolution": (lambda f: fa.NeuronDeconvolution(f, f.conv), lambda m, x: m.attribute(x, (1, 2, 2))),
    }


CASES = _cases()


def test_the_catalogue_covers_every_public_method():
    public = {name for name in fa.__all__ if isinstance(getattr(fa, name), type)
              and issubclass(getattr(fa, name), fa.Attribution)
              and name not in ("Attribution", "GradientAttribution", "LayerAttribution",
                               "PerturbationAttribution", "NeuronAttribution")}
    assert public - set(CASES) == {"AttentionRollout"}  # needs a ViT: its own test below


@pytest.mark.parametrize("name", sorted(CASES))
def test_batchnorm_in_training_mode_is_refused_before_any_forward(name):
    build, call = CASES[name]
    net = Net().eval()
    net.bn.train()
    before = net.bn.running_mean.clone()
    with pytest.raises(InputError, match=r"BatchNorm layers in training mode \(bn\)"):
        call(build(net), X)
    assert net.calls == 0 and torch.equal(net.bn.running_mean, before)


@pytest.mark.parametrize("name", sorted(CASES))
def test_dropout_in_training_mode_warns_naming_it(name):
    build, call = CASES[name]
    net = Net().eval()
    net.drop.train()
    with pytest.warns(UserWarning, match=r"dropout in training mode \(drop\)"):
        try:
            call(build(net), X)
        except Exception:  # the warning is the point; some methods refuse dropout for their own reasons
            pass


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_batch_is_refused_naming_inputs(name):
    build, call = CASES[name]
    net = Net().eval()
    with pytest.raises(InputError, match="inputs has 0 examples"):
        call(build(net), X[:0])
    assert net.calls == 0


def test_attention_rollout_shares_the_preflight():
    model = TinyViT().double().train()
    with pytest.raises(InputError, match="inputs has 0 examples"):
        fa.AttentionRollout(model).attribute(torch.randn(0, 3, 8, 8, dtype=torch.float64))
    with pytest.warns(UserWarning, match="dropout in training mode") if any(
            isinstance(m, nn.Dropout) for m in model.modules()) else warnings.catch_warnings():
        fa.AttentionRollout(model).attribute(torch.randn(1, 3, 8, 8, dtype=torch.float64))


@pytest.mark.parametrize("name", ["FeatureAblation", "IntegratedGradients", "KernelShap"])
def test_bad_caps_are_named(name):
    build, call = CASES[name]
    m = build(Net().eval())
    row = 3 * 8 * 8 * 4
    for kw, match in [({"max_batch": 0}, "max_batch"), ({"max_batch": 2.5}, "max_batch"),
                      ({"max_memory": -1}, "max_memory"), ({"max_memory": row - 1}, "below one input row")]:
        with pytest.raises(InputError, match=match):
            m.attribute.__func__(m, X, **_call_kwargs(name), **kw)


def _call_kwargs(name):
    return {"FeatureAblation": {"target": 0, "feature_mask": MASK},
            "IntegratedGradients": {"target": 0, "n_steps": 4},
            "KernelShap": {"target": 0, "feature_mask": MASK, "n_samples": 8}}[name]


def test_max_batch_below_one_perturbation_is_split_never_exceeded():
    seen = []
    net = Net().eval()

    def forward(x):
        seen.append(x.shape[0])
        return net(x)

    x = torch.randn(5, 3, 8, 8)
    ref = fa.FeatureAblation(forward).attribute(x, target=1, feature_mask=MASK)
    seen.clear()
    got = fa.FeatureAblation(forward).attribute(x, target=1, feature_mask=MASK, max_batch=2)
    assert max(seen) <= 2 and sum(seen) == 5 * (1 + 4)  # the unperturbed forward is split too
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    # per-example targets and additional args travel with their rows
    tgt = torch.tensor([0, 2, 1, 1, 0])
    scale = torch.arange(1.0, 6.0)
    f2 = lambda t, s: forward(t) * s[:, None]
    want = fa.Occlusion(f2).attribute(x, (3, 4, 4), strides=(3, 4, 4), target=tgt, additional_forward_args=(scale,))
    seen.clear()
    got = fa.Occlusion(f2).attribute(x, (3, 4, 4), strides=(3, 4, 4), target=tgt,
                                     additional_forward_args=(scale,), max_batch=3)
    assert max(seen) <= 3
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_max_batch_that_cannot_be_split_raises():
    net = Net().eval()
    agg = lambda t: net(t).sum()  # one value per batch: its rows cannot be split
    with pytest.raises(InputError, match="max_batch=1 is below the 2 rows"):
        fa.FeatureAblation(agg).attribute(X, feature_mask=MASK, max_batch=1)
    with pytest.raises(InputError, match="max_batch=1 is below the 2 rows one step"):
        fa.IntegratedGradients(net).attribute(X, target=0, n_steps=3, max_batch=1)


def _nan_after(k):
    net = Net().eval()

    def forward(x):
        out = net(x)
        return out * float("nan") if net.calls > k else out

    forward.conv = net.conv
    return forward


@pytest.mark.parametrize("name", ["FeatureAblation", "KernelShap", "IntegratedGradients", "GradientShap", "LayerConductance"])
def test_non_finite_outputs_one_rule_one_opt_out(name):
    build, call = CASES[name]
    # NaN from the first forward on; for the perturbation loop also from the second on
    for k in ((0, 1) if name in ("FeatureAblation", "KernelShap") else (0,)):
        with pytest.raises(NonFiniteOutputError, match="NaN or Inf"):
            call(build(_nan_after(k)), X)
    with allow_non_finite():
        assert non_finite_allowed()
        out = call(build(_nan_after(0)), X)
    assert not non_finite_allowed()
    out = out if isinstance(out, tuple) else (out,)
    assert any(bool(torch.isnan(o).any()) for o in out)
    assert fastxai.allow_non_finite is allow_non_finite


def test_check_finite_and_preflight_units():
    check_finite(torch.ones(3), "here")
    check_finite(torch.tensor([1, 2]), "ints are never non-finite")
    with pytest.raises(NonFiniteOutputError, match="for here"):
        check_finite(torch.tensor([1.0, float("inf")]), "here")
    preflight(None, X)  # a plain function model: nothing to inspect
    with pytest.raises(InputError, match="inputs has 0 examples"):
        preflight(None, (X[:0], X))
