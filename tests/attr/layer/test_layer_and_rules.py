"""Parity with Captum 0.9: LayerGradCam, GuidedGradCam, LayerActivation,
LayerGradientXActivation, LayerIntegratedGradients, LayerConductance (conv net with BatchNorm,
ReLU, MaxPool and a residual add module; in-place ReLUs; token ids; lists of layers)."""

import pytest
import torch
from torch import nn

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from tests.attr.gradient.models import assert_close, conv_net, multi_input  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    yield


@pytest.fixture
def net():
    return conv_net()


@pytest.fixture
def x():
    return torch.randn(3, 3, 8, 8, dtype=torch.float64)


@pytest.mark.parametrize("layer", ["block.conv2", "relu3", "block", "pool"])
def test_layer_methods(net, x, layer):
    L = net.get_submodule(layer)
    for kw in ({}, {"relu_attributions": True, "attr_dim_summation": False}, {"attribute_to_layer_input": True}):
        assert_close(fa.LayerGradCam(net, L).attribute(x, target=2, **kw),
                     captum_attr.LayerGradCam(net, L).attribute(x, target=2, **kw))
    assert_close(fa.LayerActivation(net, L).attribute(x), captum_attr.LayerActivation(net, L).attribute(x))
    assert_close(fa.LayerGradientXActivation(net, L).attribute(x, target=1),
                 captum_attr.LayerGradientXActivation(net, L).attribute(x, target=1))
    assert_close(fa.GuidedGradCam(net, L).attribute(x, target=0),
                 captum_attr.GuidedGradCam(net, L).attribute(x, target=0))
    a, d = fa.LayerIntegratedGradients(net, L).attribute(x, target=1, n_steps=8, return_convergence_delta=True)
    c, e = captum_attr.LayerIntegratedGradients(net, L).attribute(x, target=1, n_steps=8, return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)
    for ibs in (None, 7):
        a, d = fa.LayerConductance(net, L).attribute(x, 0.1, target=1, n_steps=8, internal_batch_size=ibs,
                                                     return_convergence_delta=True)
        c, e = captum_attr.LayerConductance(net, L).attribute(x, 0.1, target=1, n_steps=8, internal_batch_size=ibs,
                                                              return_convergence_delta=True)
        assert_close(a, c)
        assert_close(d, e)


def test_layer_conductance_chunked_equals_unchunked(net, x):
    L = net.block
    a = fa.LayerConductance(net, L).attribute(x, target=1, n_steps=10, max_batch=6)
    b = fa.LayerConductance(net, L).attribute(x, target=1, n_steps=10)
    assert_close(a, b)


def test_layer_integrated_gradients_embedding():
    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6)
            self.fc = nn.Linear(6, 2)

        def forward(self, ids):
            return self.fc(self.emb(ids).mean(1))

    torch.manual_seed(0)
    m = Text().double()
    ids = torch.randint(1, 20, (3, 7))
    a, d = fa.LayerIntegratedGradients(m, m.emb).attribute(ids, torch.zeros_like(ids), target=1, n_steps=10,
                                                           return_convergence_delta=True)
    c, e = captum_attr.LayerIntegratedGradients(m, m.emb).attribute(ids, torch.zeros_like(ids), target=1,
                                                                    n_steps=10, return_convergence_delta=True)
    assert_close(a, c)
    assert_close(d, e)


def test_interpolate():
    a = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    for mode in ("nearest", "bilinear"):
        assert_close(fa.LayerAttribution.interpolate(a, (8, 8), mode),
                     captum_attr.LayerAttribution.interpolate(a, (8, 8), mode))


class InplaceNet(nn.Module):
    """torchvision style: in-place ReLUs right after the layers we attribute to."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.BatchNorm2d(4)
        self.r = nn.ReLU(inplace=True)
        self.p = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 4, 3)
        self.r2 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.r2(self.c2(self.p(self.r(self.b(self.c(x)))))), 1))


def test_inplace_relu_models():
    torch.manual_seed(0)
    m = InplaceNet().double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for name in ("GuidedBackprop", "Deconvolution", "DeepLift", "LRP"):
        assert_close(getattr(fa, name)(m).attribute(x, target=1), getattr(captum_attr, name)(m).attribute(x, target=1))
    for layer in (m.c2, m.b):
        for kw in ({}, {"attribute_to_layer_input": True}):
            assert_close(fa.LayerGradCam(m, layer).attribute(x, target=1, **kw),
                         captum_attr.LayerGradCam(m, layer).attribute(x, target=1, **kw))
            assert_close(fa.LayerConductance(m, layer).attribute(x, target=1, n_steps=5, **kw),
                         captum_attr.LayerConductance(m, layer).attribute(x, target=1, n_steps=5, **kw))
    # Captum's LayerIntegratedGradients fails here ("a leaf Variable ... in-place"); ours runs and
    # still satisfies completeness on the layer
    a, d = fa.LayerIntegratedGradients(m, m.c2).attribute(x, target=1, n_steps=64, return_convergence_delta=True)
    assert a.shape == (2, 4, 2, 2) and float(d.abs().max()) < 1e-2


class _TwoEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb1 = nn.Embedding(12, 5)
        self.emb2 = nn.Embedding(12, 5)
        self.fc = nn.Linear(5, 3)

    def forward(self, ids1, ids2):
        return self.fc(torch.tanh(self.emb1(ids1) + self.emb2(ids2)).mean(1))


def test_layer_gradient_x_activation_token_ids_frozen_model():
    # integer inputs and parameters without grad, even called under no_grad: the layer tensors
    # are made to require grad, as in Captum
    torch.manual_seed(0)
    m = _TwoEmbeddings().double()
    for p in m.parameters():
        p.requires_grad_(False)
    ids = (torch.randint(0, 12, (3, 4)), torch.randint(0, 12, (3, 4)))
    with torch.no_grad():
        ours = fa.LayerGradientXActivation(m, m.emb1).attribute(ids, target=2)
    theirs = captum_attr.LayerGradientXActivation(m, m.emb1).attribute(ids, target=2)
    assert_close(ours, theirs)


def test_layer_methods_with_a_list_of_layers():
    torch.manual_seed(1)
    m = _TwoEmbeddings().double()
    ids = (torch.randint(1, 12, (3, 4)), torch.randint(1, 12, (3, 4)))
    base = tuple(torch.zeros_like(i) for i in ids)
    layers = [m.emb1, m.emb2]
    for mult in (True, False):
        ours = fa.LayerGradientXActivation(m, layers, multiply_by_inputs=mult).attribute(ids, target=1)
        theirs = captum_attr.LayerGradientXActivation(m, layers, multiply_by_inputs=mult).attribute(ids, target=1)
        assert isinstance(ours, list) and len(ours) == 2
        for a, b in zip(ours, theirs):
            assert_close(a, b)
    # all listed layers are interpolated in the same forward
    ours, d = fa.LayerIntegratedGradients(m, layers).attribute(
        ids, base, target=1, n_steps=12, return_convergence_delta=True)
    theirs, e = captum_attr.LayerIntegratedGradients(m, layers).attribute(
        ids, base, target=1, n_steps=12, return_convergence_delta=True)
    assert isinstance(ours, list) and len(ours) == 2
    for a, b in zip(ours, theirs):
        assert_close(a, b)
    assert_close(d, e)


def test_layer_integrated_gradients_list_with_a_multi_input_layer():
    net = multi_input()
    x = (torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    for layers, to_input in (([net.fc1, net.fc2], False), ([net.fc1, net.fc2], True), ([net.add], True)):
        ours = fa.LayerIntegratedGradients(net, layers).attribute(
            x, target=0, n_steps=10, attribute_to_layer_input=to_input)
        theirs = captum_attr.LayerIntegratedGradients(net, layers).attribute(
            x, target=0, n_steps=10, attribute_to_layer_input=to_input)
        assert isinstance(ours, list) and len(ours) == len(layers)
        assert isinstance(ours[-1], tuple) == (layers[-1] is net.add)
        for a, b in zip(ours, theirs):
            assert_close(a, b)


def test_layer_conductance_result_does_not_depend_on_chunking():
    class Elementwise(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, x):
            return torch.sigmoid(2.0 * self.act(1.5 * x)).sum(1)

    torch.manual_seed(0)
    m, x = Elementwise(), torch.randn(3, 6)
    cond = fa.LayerConductance(m, m.act)
    runs = [cond.attribute(x, target=None, n_steps=200, internal_batch_size=ibs) for ibs in (3, 3 * 9, 3 * 201)]
    runs.append(cond.attribute(x, n_steps=200, max_batch=3 * 13))
    for r in runs[1:]:
        assert torch.equal(r, runs[0])
    assert_close(runs[0], captum_attr.LayerConductance(m, m.act).attribute(x, n_steps=200), torch.float32)


def test_grad_kwargs_reach_autograd_like_captum(net, x):
    """``grad_kwargs`` go to torch.autograd.grad: with create_graph=True the attributions carry
    a graph (differentiable again), as Captum's do."""
    layer = net.conv2 if hasattr(net, "conv2") else [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
    for cls in ("LayerGradCam", "LayerGradientXActivation"):
        ours = getattr(fa, cls)(net, layer).attribute(x, target=1, grad_kwargs={"create_graph": True})
        theirs = getattr(captum_attr, cls)(net, layer).attribute(x, target=1, grad_kwargs={"create_graph": True})
        assert ours.requires_grad and theirs.requires_grad
        assert_close(ours.detach(), theirs.detach())
        plain = getattr(fa, cls)(net, layer).attribute(x, target=1)
        assert not plain.requires_grad
    ig = fa.LayerIntegratedGradients(net, layer).attribute(x, target=1, n_steps=4, grad_kwargs={"create_graph": True})
    assert ig.requires_grad
    want = captum_attr.LayerIntegratedGradients(net, layer).attribute(x, target=1, n_steps=4)
    assert_close(ig.detach(), want)
