"""Parity with the installed captum==0.9.0 for LayerDeepLift, LayerDeepLiftShap,
LayerGradientShap, LayerLRP and InternalInfluence: signatures, defaults, class tree, return
forms (tensor / tuple / list, deltas) and numbers on the same inputs."""
import copy
import inspect

import numpy as np
import pytest
import torch

ca = pytest.importorskip("captum.attr")
from captum.attr._utils.custom_modules import Addition_Module  # noqa: E402

import fastxai.attr as fa  # noqa: E402
from tests.attr.gradient.models import assert_close, conv_net, mlp, multi_input  # noqa: E402

LAYER = ["LayerDeepLift", "LayerDeepLiftShap", "LayerGradientShap", "LayerLRP", "InternalInfluence"]


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    yield


def _params(f):
    return [(p.name, p.default) for p in inspect.signature(f).parameters.values()
            if p.kind is not p.KEYWORD_ONLY]


def _check(ours, theirs):
    """Same numbers and forms as Captum, and not trivially zero."""
    assert type(ours) is type(theirs)
    if isinstance(ours, list):
        for a, b in zip(ours, theirs):
            _check(a, b)
        return
    assert_close(ours, theirs)
    assert any(float(t.abs().max()) > 1e-6 for t in (ours if isinstance(ours, tuple) else (ours,)))


@pytest.mark.parametrize("name", LAYER)
def test_signatures_and_class_tree_match_captum(name):
    ours, theirs = getattr(fa, name), getattr(ca, name)
    assert _params(ours.__init__)[: len(_params(theirs.__init__))] == _params(theirs.__init__)
    assert _params(ours.attribute.__wrapped__)[: len(_params(theirs.attribute))] == _params(theirs.attribute)
    for base in ("DeepLift", "DeepLiftShap", "LRP", "LayerAttribution", "GradientAttribution", "LayerDeepLift"):
        assert issubclass(ours, getattr(fa, base)) == issubclass(theirs, getattr(ca, base)), base


@pytest.mark.parametrize("layer", ["block.conv2", "relu3", "block", "pool"])
@pytest.mark.parametrize("to_input", [False, True])
def test_layer_deep_lift_and_shap(layer, to_input):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    b = torch.randn(3, 3, 8, 8, dtype=torch.float64) * 0.1
    mod = dict(m.named_modules())[layer]
    ours = fa.LayerDeepLift(m, mod).attribute(x, b, target=1, attribute_to_layer_input=to_input,
                                              return_convergence_delta=True)
    theirs = ca.LayerDeepLift(m, mod).attribute(x, b, target=1, attribute_to_layer_input=to_input,
                                                return_convergence_delta=True)
    _check(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])
    dist = torch.randn(4, 3, 8, 8, dtype=torch.float64) * 0.1
    ours = fa.LayerDeepLiftShap(m, mod).attribute(x, dist, target=2, attribute_to_layer_input=to_input,
                                                  return_convergence_delta=True)
    theirs = ca.LayerDeepLiftShap(m, mod).attribute(x, dist, target=2, attribute_to_layer_input=to_input,
                                                    return_convergence_delta=True)
    _check(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])


def test_layer_deep_lift_multi_input_custom_and_no_multiply():
    m = multi_input()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    tgt = torch.tensor([0, 1, 2, 0])

    def custom(mult, at_x, at_b):
        return tuple(mm * (a - b) ** 2 for mm, a, b in zip(mult, at_x, at_b))

    for kw in ({}, {"custom_attribution_func": custom}):
        ours = fa.LayerDeepLift(m, m.add).attribute((x1, x2), (0.1, -0.2), target=tgt, additional_forward_args=(2.0,),
                                                    attribute_to_layer_input=True, **kw)
        theirs = ca.LayerDeepLift(m, m.add).attribute((x1, x2), (0.1, -0.2), target=tgt, additional_forward_args=(2.0,),
                                                      attribute_to_layer_input=True, **kw)
        _check(ours, theirs)
    ours = fa.LayerDeepLift(m, m.relu, multiply_by_inputs=False).attribute((x1, x2), target=tgt,
                                                                           additional_forward_args=(2.0,))
    theirs = ca.LayerDeepLift(m, m.relu, multiply_by_inputs=False).attribute((x1, x2), target=tgt,
                                                                             additional_forward_args=(2.0,))
    _check(ours, theirs)


@pytest.mark.parametrize("stdevs", [0.0, 0.2])
@pytest.mark.parametrize("to_input", [False, True])
def test_layer_gradient_shap_same_draws(stdevs, to_input):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    dist = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    out = []
    for mod in (fa, ca):
        torch.manual_seed(5)
        np.random.seed(5)
        out.append(mod.LayerGradientShap(m, m.conv3).attribute(
            x, dist, n_samples=4, stdevs=stdevs, target=1, attribute_to_layer_input=to_input,
            return_convergence_delta=True))
    _check(out[0][0], out[1][0])
    assert_close(out[0][1], out[1][1])


def test_layer_gradient_shap_seeded_chunk_invariant_and_no_multiply():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    dist = torch.randn(3, 10, dtype=torch.float64)
    a = fa.LayerGradientShap(m, m.fc2).attribute(x, dist, n_samples=6, stdevs=0.1, target=0, seed=3)
    b = fa.LayerGradientShap(m, m.fc2).attribute(x, dist, n_samples=6, stdevs=0.1, target=0, seed=3, max_batch=5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    out = []
    for mod in (fa, ca):
        torch.manual_seed(1)
        np.random.seed(1)
        out.append(mod.LayerGradientShap(m, m.fc2, multiply_by_inputs=False).attribute(x, dist, target=2))
    _check(out[0], out[1])


def _lrp_net():
    m = conv_net()
    m.block.add = Addition_Module()
    return m


@pytest.mark.parametrize("layer", ["conv3", "block.conv1", "fc", "pool"])
@pytest.mark.parametrize("to_input", [False, True])
def test_layer_lrp(layer, to_input):
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    m1, m2 = _lrp_net(), _lrp_net()
    ours = fa.LayerLRP(m1, dict(m1.named_modules())[layer]).attribute(
        x, target=1, attribute_to_layer_input=to_input, return_convergence_delta=True)
    theirs = ca.LayerLRP(m2, dict(m2.named_modules())[layer]).attribute(
        x, target=1, attribute_to_layer_input=to_input, return_convergence_delta=True)
    _check(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])


def test_layer_lrp_list_of_layers_and_model_unchanged():
    m1, m2 = mlp(), mlp()
    state = copy.deepcopy(m1.state_dict())
    x = torch.randn(4, 10, dtype=torch.float64)
    ours = fa.LayerLRP(m1, [m1.fc1, m1.fc3]).attribute(x, target=0, return_convergence_delta=True)
    theirs = ca.LayerLRP(m2, [m2.fc1, m2.fc3]).attribute(x, target=0, return_convergence_delta=True)
    _check(ours[0], theirs[0])
    assert isinstance(ours[1], list) and len(ours[1]) == 2
    for a, b in zip(ours[1], theirs[1]):
        assert_close(a, b)
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_left"])
@pytest.mark.parametrize("layer", ["block.conv2", "relu3"])
def test_internal_influence(method, layer):
    m = conv_net()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    b = torch.randn(1, 3, 8, 8, dtype=torch.float64) * 0.1
    mod = dict(m.named_modules())[layer]
    for to_input in (False, True):
        ours = fa.InternalInfluence(m, mod).attribute(x, b, target=1, n_steps=6, method=method,
                                                      internal_batch_size=7, attribute_to_layer_input=to_input)
        theirs = ca.InternalInfluence(m, mod).attribute(x, b, target=1, n_steps=6, method=method,
                                                        internal_batch_size=7, attribute_to_layer_input=to_input)
        _check(ours, theirs)
    a = fa.InternalInfluence(m, mod).attribute(x, b, target=1, n_steps=6, method=method)
    c = fa.InternalInfluence(m, mod).attribute(x, b, target=1, n_steps=6, method=method, max_batch=3)
    torch.testing.assert_close(a, c, rtol=0, atol=0)


def test_internal_influence_multi_input_layer():
    m = multi_input()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    ours = fa.InternalInfluence(m, m.add).attribute((x1, x2), target=1, additional_forward_args=(2.0,),
                                                    n_steps=5, attribute_to_layer_input=True)
    theirs = ca.InternalInfluence(m, m.add).attribute((x1, x2), target=1, additional_forward_args=(2.0,),
                                                      n_steps=5, attribute_to_layer_input=True)
    assert isinstance(ours, tuple) and len(ours) == 2
    _check(ours, theirs)
