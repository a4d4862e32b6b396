"""Parity with the installed captum==0.9.0 for the Neuron* family: same signatures, defaults,
return forms and numbers on the same inputs (conv net with BatchNorm / ReLU / MaxPool / a
residual add module, an MLP, a two-input model with an extra argument)."""
import inspect

import numpy as np
import pytest
import torch

ca = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from tests.attr.gradient.models import assert_close, conv_net, mlp, multi_input  # noqa: E402

NEURON = ["NeuronGradient", "NeuronIntegratedGradients", "NeuronConductance", "NeuronDeepLift",
          "NeuronDeepLiftShap", "NeuronGradientShap", "NeuronGuidedBackprop", "NeuronDeconvolution"]


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    yield


def _params(f):
    return [(p.name, p.default) for p in inspect.signature(f).parameters.values()
            if p.kind is not p.KEYWORD_ONLY]


@pytest.mark.parametrize("name", NEURON)
def test_signatures_and_class_tree_match_captum(name):
    ours, theirs = getattr(fa, name), getattr(ca, name)
    assert _params(ours.__init__) == _params(theirs.__init__)
    assert _params(ours.attribute.__wrapped__)[: len(_params(theirs.attribute))] == _params(theirs.attribute)
    assert issubclass(ours, fa.NeuronAttribution) and issubclass(ours, fa.GradientAttribution)
    assert not issubclass(ours, fa.LayerAttribution)


# (layer name, selector): an int on a 2-D layer, a tuple on a conv map, a tuple with a slice,
# and a callable
CONV_CASES = [("relu3", (1, 2, 2)), ("block.conv2", (2, slice(1, 3), slice(0, 2))),
              ("relu0", lambda t: t[:, 0, 2, 2] * 2.0)]


def _check(ours, theirs):
    """Same numbers as Captum, and not a trivially zero map (the test could not fail then)."""
    assert_close(ours, theirs)
    for t in (ours if isinstance(ours, tuple) else (ours,)):
        assert float(t.abs().max()) > 1e-6


def _layer(m, name):
    return dict(m.named_modules())[name]


@pytest.mark.parametrize("layer,sel", CONV_CASES)
@pytest.mark.parametrize("to_input", [False, True])
def test_neuron_gradient_family(layer, sel, to_input):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    for name in ["NeuronGradient", "NeuronGuidedBackprop", "NeuronDeconvolution"]:
        ours = getattr(fa, name)(m, _layer(m, layer)).attribute(x, sel, attribute_to_neuron_input=to_input)
        theirs = getattr(ca, name)(m, _layer(m, layer)).attribute(x, sel, attribute_to_neuron_input=to_input)
        _check(ours, theirs)


@pytest.mark.parametrize("layer,sel", CONV_CASES[:2])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_neuron_integrated_gradients_and_conductance(layer, sel, method):
    m = conv_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    b = torch.randn(1, 3, 8, 8, dtype=torch.float64) * 0.1
    ours = fa.NeuronIntegratedGradients(m, _layer(m, layer)).attribute(x, sel, b, n_steps=7, method=method)
    theirs = ca.NeuronIntegratedGradients(m, _layer(m, layer)).attribute(x, sel, b, n_steps=7, method=method)
    _check(ours, theirs)
    ours = fa.NeuronConductance(m, _layer(m, layer)).attribute(x, sel, b, target=1, n_steps=7, method=method)
    theirs = ca.NeuronConductance(m, _layer(m, layer)).attribute(x, sel, b, target=1, n_steps=7, method=method)
    _check(ours, theirs)


def test_neuron_path_methods_multi_input_args_chunked_and_not_multiplied():
    m = multi_input()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    kw = dict(additional_forward_args=(2.0,), n_steps=6, internal_batch_size=8)
    for name in ["NeuronIntegratedGradients", "NeuronConductance"]:
        for mult in (True, False):
            extra = {"target": torch.tensor([0, 1, 2, 0])} if name == "NeuronConductance" else {}
            ours = getattr(fa, name)(m, m.relu, multiply_by_inputs=mult).attribute((x1, x2), 2, **kw, **extra)
            theirs = getattr(ca, name)(m, m.relu, multiply_by_inputs=mult).attribute((x1, x2), 2, **kw, **extra)
            assert isinstance(ours, tuple) and len(ours) == 2
            _check(ours, theirs)
    # chunking under max_batch does not change the answer
    a = fa.NeuronIntegratedGradients(m, m.relu).attribute((x1, x2), 2, additional_forward_args=(2.0,), n_steps=6)
    b = fa.NeuronIntegratedGradients(m, m.relu).attribute((x1, x2), 2, additional_forward_args=(2.0,), n_steps=6,
                                                         max_batch=4)
    assert_close(a, b)


@pytest.mark.parametrize("layer,sel", CONV_CASES)
def test_neuron_deep_lift_and_shap(layer, sel):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    b = torch.randn(3, 3, 8, 8, dtype=torch.float64) * 0.1
    for to_input in (False, True):
        ours = fa.NeuronDeepLift(m, _layer(m, layer)).attribute(x, sel, b, attribute_to_neuron_input=to_input)
        theirs = ca.NeuronDeepLift(m, _layer(m, layer)).attribute(x, sel, b, attribute_to_neuron_input=to_input)
        _check(ours, theirs)
    dist = torch.randn(4, 3, 8, 8, dtype=torch.float64) * 0.1
    ours = fa.NeuronDeepLiftShap(m, _layer(m, layer)).attribute(x, sel, dist)
    theirs = ca.NeuronDeepLiftShap(m, _layer(m, layer)).attribute(x, sel, dist)
    _check(ours, theirs)


def test_neuron_deep_lift_custom_function_and_no_multiply():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    b = torch.randn(4, 10, dtype=torch.float64) * 0.1

    def custom(mult, inp, base):
        return tuple(mm * (i - bb) ** 2 for mm, i, bb in zip(mult, inp, base))

    ours = fa.NeuronDeepLift(m, m.relu2).attribute(x, 5, b, custom_attribution_func=custom)
    theirs = ca.NeuronDeepLift(m, m.relu2).attribute(x, 5, b, custom_attribution_func=custom)
    _check(ours, theirs)
    ours = fa.NeuronDeepLift(m, m.fc2, multiply_by_inputs=False).attribute(x, 5, b)
    theirs = ca.NeuronDeepLift(m, m.fc2, multiply_by_inputs=False).attribute(x, 5, b)
    _check(ours, theirs)


@pytest.mark.parametrize("stdevs", [0.0, 0.3])
def test_neuron_gradient_shap_same_draws(stdevs):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    dist = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    out = []
    for mod in (fa, ca):
        torch.manual_seed(3)
        np.random.seed(3)
        out.append(mod.NeuronGradientShap(m, m.conv3).attribute(x, (1, 2, 2), dist, n_samples=4, stdevs=stdevs))
    _check(out[0], out[1])


def test_neuron_gradient_shap_seeded_is_chunk_invariant():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    dist = torch.randn(3, 10, dtype=torch.float64)
    a = fa.NeuronGradientShap(m, m.fc2).attribute(x, 3, dist, n_samples=6, stdevs=0.1, seed=7)
    b = fa.NeuronGradientShap(m, m.fc2).attribute(x, 3, dist, n_samples=6, stdevs=0.1, seed=7, max_batch=5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bad_selector_names_the_argument():
    m = conv_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    from fastxai._captum.errors import InputError

    with pytest.raises(InputError, match="neuron_selector"):
        fa.NeuronGradient(m, m.conv3).attribute(x, (3, 1, 1, 0))
    with pytest.raises(InputError, match="selects 16 values per example"):
        fa.NeuronGradient(m, m.conv3).attribute(x, 3)  # Captum: a RuntimeError from autograd


@pytest.mark.parametrize("layer,sel", [("gap", 1), ("conv3", lambda t: t[:, 1].sum())])
def test_partial_and_aggregating_selectors_as_captum(layer, sel):
    """Captum's rules: fewer indices than dims where one value per example remains ((N, C, 1, 1)
    after global pooling); a callable may aggregate over the batch."""
    m = conv_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for name in ["NeuronGradient", "NeuronIntegratedGradients", "NeuronDeepLift"]:
        ours = getattr(fa, name)(m, _layer(m, layer)).attribute(x, sel)
        theirs = getattr(ca, name)(m, _layer(m, layer)).attribute(x, sel)
        _check(ours, theirs)
