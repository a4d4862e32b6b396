"""Captum's output dtype rules for the gradient family (float16 / bfloat16 inputs to path
methods come back float32, plain gradients keep the input dtype) and the one non-finite rule."""
import pytest
import torch
from torch import nn

import fastxai
import fastxai.attr as fa
from fastxai._captum.errors import NonFiniteOutputError

ca = pytest.importorskip("captum.attr")


def _half_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).half()


@pytest.mark.parametrize("name", ["IntegratedGradients", "Saliency", "InputXGradient"])
def test_float16_inputs_follow_captum_dtype(name):
    m = _half_mlp()
    x = torch.randn(2, 4).half()
    c = getattr(ca, name)(m).attribute(x, target=0)
    f = getattr(fa, name)(m).attribute(x, target=0)
    assert f.dtype == c.dtype
    torch.testing.assert_close(f.float(), c.float(), atol=1e-3, rtol=1e-2)


@pytest.mark.parametrize("name", ["LayerIntegratedGradients", "LayerConductance", "LayerGradientXActivation"])
def test_float16_layer_methods_follow_captum_dtype(name):
    m = _half_mlp()
    x = torch.randn(2, 4).half()
    c = getattr(ca, name)(m, m[0]).attribute(x, target=0)
    f = getattr(fa, name)(m, m[0]).attribute(x, target=0)
    assert f.dtype == c.dtype
    torch.testing.assert_close(f.float(), c.float(), atol=1e-2, rtol=1e-2)


class _NaNAt(nn.Module):
    """Linear model whose output is NaN where the input's first feature exceeds 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        y = self.fc(x)
        return torch.where(x[:, :1] > 0.5, torch.full_like(y, float("nan")), y)


@pytest.mark.parametrize("make", [
    lambda m, x: fa.IntegratedGradients(m).attribute(x, target=0, n_steps=4),
    lambda m, x: fa.Saliency(m).attribute(x, target=0),
    lambda m, x: fa.LayerConductance(m, m.fc).attribute(x, target=0, n_steps=4),
    lambda m, x: fa.GradientShap(m).attribute(x, torch.zeros(2, 3), target=0, seed=0),
])
def test_gradient_nan_outputs_raise_with_one_opt_out(make):
    m = _NaNAt()
    x = torch.tensor([[1.0, 0.0, 0.0], [0.1, 0.2, 0.3]])
    with pytest.raises(NonFiniteOutputError):
        make(m, x)
    with fastxai.allow_non_finite():
        out = make(m, x)
    assert out.shape[0] == 2
