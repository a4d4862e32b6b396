"""LayerFeatureAblation / LayerFeaturePermutation equal Captum 0.9's (layer outputs and
inputs, layer masks, baselines, tuple inputs with additional args)."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from tests.attr.models import ConvNet, MLP, TwoInput, assert_close, make  # noqa: E402


@pytest.mark.parametrize("kwargs", [
    dict(target=1, layer="fc"),  # every neuron alone (a small layer: Captum takes 1 forward each)
    dict(target=torch.tensor([0, 3, 2]), layer_baselines=0.25, layer_mask=torch.arange(64).reshape(1, 1, 8, 8) // 4),
    dict(target=2, layer_mask=torch.arange(6).reshape(1, 6, 1, 1) // 2, perturbations_per_eval=2),
    dict(target=[1, 0, 3], attribute_to_layer_input=True, layer_mask=torch.arange(6).reshape(1, 6, 1, 1)),
    dict(target=0, layer_baselines=torch.rand(1, 6, 8, 8, dtype=torch.float64),
         layer_mask=torch.arange(64).reshape(1, 1, 8, 8) // 16),
])
def test_layer_feature_ablation_matches_captum_on_a_conv_net(kwargs):
    kwargs = dict(kwargs)
    net = make(ConvNet())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    layer = getattr(net, kwargs.pop("layer", "relu1" if kwargs.get("attribute_to_layer_input") else "conv1"))
    want = captum_attr.LayerFeatureAblation(net, layer).attribute(x, **kwargs)
    got = fa.LayerFeatureAblation(net, layer).attribute(x, **kwargs)
    assert_close(got, want)


def test_layer_feature_ablation_tuple_inputs_and_args():
    net = make(TwoInput())
    img, tab = torch.randn(4, 2, 4, 4, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    kwargs = dict(target=2, additional_forward_args=(0.5,))
    want = captum_attr.LayerFeatureAblation(net, net.lin).attribute((img, tab), **kwargs)
    got = fa.LayerFeatureAblation(net, net.lin).attribute((img, tab), max_batch=8, **kwargs)
    assert_close(got, want)


@pytest.mark.parametrize("ppe", [1, 3])
def test_layer_feature_permutation_matches_captum(ppe):
    net = make(MLP())
    x = torch.randn(5, 10, dtype=torch.float64)
    layer = net.net[1]
    score = lambda inp: net(inp)[:, 1]  # Captum 0.9 selects a given target twice and fails: none
    mask = torch.arange(16).reshape(1, 16) // 4
    for m in (None, mask):
        torch.manual_seed(3)
        want = captum_attr.LayerFeaturePermutation(score, layer).attribute(x, layer_mask=m, perturbations_per_eval=ppe)
        torch.manual_seed(3)
        got = fa.LayerFeaturePermutation(score, layer).attribute(x, layer_mask=m, perturbations_per_eval=ppe)
        assert_close(got, want)
    # with a target, fastxai selects it once: the same as the score function
    torch.manual_seed(3)
    with_target = fa.LayerFeaturePermutation(net, layer).attribute(x, target=1, layer_mask=mask, perturbations_per_eval=ppe)
    torch.manual_seed(3)
    assert_close(with_target, fa.LayerFeaturePermutation(score, layer).attribute(x, layer_mask=mask, perturbations_per_eval=ppe))


def test_layer_classes_are_captums():
    assert isinstance(fa.LayerFeaturePermutation(make(MLP()), torch.nn.ReLU()), fa.FeaturePermutation)
    assert isinstance(fa.LayerFeatureAblation(make(MLP()), torch.nn.ReLU()), fa.LayerAttribution)
    assert not isinstance(fa.LayerFeatureAblation(make(MLP()), torch.nn.ReLU()), fa.FeatureAblation)


def test_a_layer_outside_the_forward_is_named():
    net = make(MLP())
    with pytest.raises(AssertionError, match="not called"):
        fa.LayerFeatureAblation(net, torch.nn.Linear(2, 2)).attribute(torch.randn(2, 10, dtype=torch.float64), target=0)


def test_attribute_future_is_refused_for_the_layer_variants():
    net = make(MLP())
    for cls in (fa.LayerFeatureAblation, fa.LayerFeaturePermutation):
        with pytest.raises(NotImplementedError):
            cls(net, net.net[1]).attribute_future(torch.randn(3, 10, dtype=torch.float64))
