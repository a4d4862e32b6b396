"""A few cases ported from Captum's tests/attr/test_integrated_gradients_basic.py (their
BasicModel2 / BasicModel3 / BasicModel5_MultiArgs, written out here), run on fastxai classes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastxai.attr as fa

METHODS = ["riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid", "gausslegendre"]


class BasicModel2(nn.Module):
    def forward(self, x1, x2):
        return F.relu(F.relu(x1) - 1 - F.relu(x2))


class BasicModel3(nn.Module):
    def forward(self, x1, x2):
        return F.relu(F.relu(x1 - 1) - F.relu(x2))


class BasicModel5MultiArgs(nn.Module):
    def forward(self, x1, x2, add1, add2=0):
        r1 = F.relu(x1 - 1) * add1[0]
        r2 = F.relu(x2) * add1[1]
        return F.relu(r1 - r2)[:, add2]


@pytest.mark.parametrize("model", [BasicModel2(), BasicModel3()])
def test_multivariable_expected_values(model):
    x = (torch.tensor([3.0]), torch.tensor([1.0]))
    for method in METHODS:
        a, d = fa.IntegratedGradients(model).attribute(x, (torch.tensor([0.0]), torch.tensor([0.0])),
                                                       method=method, n_steps=1500, return_convergence_delta=True)
        assert abs(a[0].item() - 1.5) < 0.05 and abs(a[1].item() + 0.5) < 0.05
        assert abs(d.item()) < 0.05


def test_multi_args_batched_equals_per_example():
    model = BasicModel5MultiArgs()
    x = (torch.tensor([[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]]), torch.tensor([[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]]))
    b = (torch.zeros(2, 3), torch.zeros(2, 3))
    ig = fa.IntegratedGradients(model)
    for method in METHODS:
        a, d = ig.attribute(x, b, additional_forward_args=([2, 3], 1), method=method, n_steps=300,
                            return_convergence_delta=True)
        for i in range(2):
            ai, di = ig.attribute(tuple(t[i:i + 1] for t in x), tuple(t[i:i + 1] for t in b),
                                  additional_forward_args=([2, 3], 1), method=method, n_steps=300,
                                  return_convergence_delta=True)
            for j in range(2):
                torch.testing.assert_close(a[j][i:i + 1], ai[j], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(d[i:i + 1], di, rtol=1e-4, atol=1e-4)
