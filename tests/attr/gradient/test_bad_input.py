"""Clear errors at the API boundary."""
import pytest
import torch
from torch import nn

from fastxai._captum.errors import InputError
import fastxai.attr as fa
from tests.attr.gradient.models import conv_net, mlp


def test_layer_not_in_forward_graph_names_it():
    m = conv_net()
    m.unused = nn.Conv2d(3, 3, 1).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(InputError, match="'unused' \\(Conv2d\\).*not part of the forward graph"):
        fa.LayerGradCam(m, m.unused).attribute(x, target=0)
    with pytest.raises(InputError, match="unused"):
        fa.LayerIntegratedGradients(m, m.unused).attribute(x, target=0, n_steps=3)


def test_n_steps_and_method():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    with pytest.raises(InputError, match="n_steps"):
        fa.IntegratedGradients(m).attribute(x, target=0, n_steps=0)
    with pytest.raises(InputError, match="method"):
        fa.IntegratedGradients(m).attribute(x, target=0, method="simpson")


def test_baseline_shape_mismatch():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    with pytest.raises(InputError, match="baselines\\[0\\] has shape"):
        fa.IntegratedGradients(m).attribute(x, torch.zeros(2, 9, dtype=torch.float64), target=0)
    with pytest.raises(InputError, match="baselines"):
        fa.DeepLift(m).attribute(x, torch.zeros(3, 10, dtype=torch.float64), target=0)


def test_integer_inputs():
    m = mlp()
    with pytest.raises(InputError, match="floating-point"):
        fa.Saliency(m).attribute(torch.ones(2, 10, dtype=torch.long), target=0)


def test_non_differentiable_forward():
    m = mlp()

    def f(x):
        with torch.no_grad():
            return m(x)

    with pytest.raises(InputError, match="does not require grad"):
        fa.IntegratedGradients(f).attribute(torch.randn(2, 10, dtype=torch.float64), target=0, n_steps=3)


def test_dropout_training_with_deterministic_algorithms():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(InputError, match="dropout in training mode \\(1\\)"):
            fa.Saliency(m).attribute(torch.randn(2, 4), target=0)
    finally:
        torch.use_deterministic_algorithms(prev)
    fa.Saliency(m.eval()).attribute(torch.randn(2, 4), target=0)


def test_target_needed_and_out_of_range():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    with pytest.raises(AssertionError, match="Target not provided"):
        fa.Saliency(m).attribute(x)
    with pytest.raises(IndexError, match="out of range"):
        fa.Saliency(m).attribute(x, target=7)
