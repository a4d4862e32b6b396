"""NeuronFeatureAblation equals Captum 0.9's (int / tuple / slice / callable selectors, the
layer's input, masks, baselines, tuple inputs with additional args)."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from fastxai._captum.errors import InputError  # noqa: E402
from tests.attr.models import ConvNet, TwoInput, assert_close, make  # noqa: E402

GRID = torch.arange(16).reshape(4, 4).repeat_interleave(2, 0).repeat_interleave(2, 1).reshape(1, 1, 8, 8)


@pytest.mark.parametrize("layer,kwargs", [
    ("conv1", dict(neuron_selector=(2, 3, 4), feature_mask=GRID)),
    ("conv1", dict(neuron_selector=(1, slice(2, 5), 3), feature_mask=GRID, baselines=0.5, perturbations_per_eval=3)),
    ("relu1", dict(neuron_selector=(0, 1, 1), feature_mask=GRID, attribute_to_neuron_input=True)),
    ("fc", dict(neuron_selector=2)),
    ("fc", dict(neuron_selector=lambda out: out[:, :2].sum(1), feature_mask=GRID,
                baselines=torch.rand(1, 3, 8, 8, dtype=torch.float64))),
])
def test_neuron_feature_ablation_matches_captum(layer, kwargs):
    net = make(ConvNet())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    want = captum_attr.NeuronFeatureAblation(net, getattr(net, layer)).attribute(x, **kwargs)
    got = fa.NeuronFeatureAblation(net, getattr(net, layer)).attribute(x, **kwargs)
    assert_close(got, want)


def test_tuple_inputs_and_additional_args():
    net = make(TwoInput())
    img, tab = torch.randn(4, 2, 4, 4, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    kwargs = dict(neuron_selector=1, additional_forward_args=(0.5,))
    want = captum_attr.NeuronFeatureAblation(net, net.lin).attribute((img, tab), **kwargs)
    got = fa.NeuronFeatureAblation(net, net.lin).attribute((img, tab), max_batch=8, **kwargs)
    assert isinstance(got, tuple)
    assert_close(got, want)


def test_bad_selectors_are_named():
    net = make(ConvNet())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(InputError, match="neuron_selector"):
        fa.NeuronFeatureAblation(net, net.fc).attribute(x, neuron_selector=(1, 2))


def test_class_tree():
    m = fa.NeuronFeatureAblation(make(ConvNet()), torch.nn.ReLU())
    assert isinstance(m, fa.PerturbationAttribution) and not isinstance(m, fa.FeatureAblation)
    assert type(m).__mro__[1].__name__ == "NeuronAttribution"
