"""CAMs against the published formulas, written out per channel / per location on raw maps,
for Conv2d and Conv3d layers."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastxai.attr as fa
from tests.attr.gradient.models import conv_net


class Vol(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv3d(4, 5, 3, padding=1, stride=2)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.relu2(self.conv2(self.relu(self.conv1(x)))).mean((2, 3, 4)))


def _setup(kind):
    torch.manual_seed(0)
    if kind == "2d":
        m = conv_net()
        return m, m.block, torch.randn(2, 3, 8, 8, dtype=torch.float64)
    m = Vol().double().eval()
    return m, m.relu2, torch.randn(2, 1, 6, 6, 6, dtype=torch.float64)


def _acts_grads(m, layer, x, target):
    store = {}
    h = layer.register_forward_hook(lambda mod, i, o: store.__setitem__("a", o))
    out = m(x)[:, target].sum()
    h.remove()
    (g,) = torch.autograd.grad(out, store["a"])
    return store["a"].detach(), g


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_gradcam_plus_plus_formula(kind):
    m, layer, x = _setup(kind)
    a, g = _acts_grads(m, layer, x, 1)
    n, c = a.shape[:2]
    ref = torch.zeros((n, 1) + a.shape[2:], dtype=a.dtype)
    for i in range(n):
        for k in range(c):
            gk, ak = g[i, k], a[i, k]
            denom = 2 * gk**2 + ak.sum() * gk**3
            alpha = torch.where(denom != 0, gk**2 / torch.where(denom != 0, denom, torch.ones_like(denom)), 0 * gk)
            ref[i, 0] += (alpha * gk.clamp(min=0)).sum() * ak
    ref = ref.clamp(min=0)
    torch.testing.assert_close(fa.GradCAMPlusPlus(m, layer).attribute(x, target=1), ref)


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_xgradcam_formula(kind):
    m, layer, x = _setup(kind)
    a, g = _acts_grads(m, layer, x, 2)
    n, c = a.shape[:2]
    ref = torch.zeros((n, 1) + a.shape[2:], dtype=a.dtype)
    for i in range(n):
        for k in range(c):
            s = a[i, k].sum()
            w = (a[i, k] / s * g[i, k]).sum() if s != 0 else 0.0
            ref[i, 0] += w * a[i, k]
    torch.testing.assert_close(fa.XGradCAM(m, layer).attribute(x, target=2), ref.clamp(min=0))
    raw = fa.XGradCAM(m, layer).attribute(x, target=2, relu_attributions=False)
    torch.testing.assert_close(raw, ref)


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_eigencam_is_first_principal_component(kind):
    m, layer, x = _setup(kind)
    a, _ = _acts_grads(m, layer, x, 0)
    cam = fa.EigenCAM(m, layer).attribute(x)
    for i in range(a.shape[0]):
        mat = a[i].reshape(a.shape[1], -1).t()
        mat = mat - mat.mean(0)
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        proj = (mat @ vh[0]).reshape(a.shape[2:])
        ref_sign = torch.sign(((a[i].sum(0) - a[i].sum(0).mean()) * proj).sum())
        torch.testing.assert_close(cam[i, 0], proj * ref_sign)


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_scorecam_formula(kind):
    m, layer, x = _setup(kind)
    a, _ = _acts_grads(m, layer, x, 1)
    mode = "bilinear" if kind == "2d" else "trilinear"
    n, c = a.shape[:2]
    scores = torch.zeros(n, c, dtype=x.dtype)
    with torch.no_grad():
        for k in range(c):
            up = F.interpolate(a[:, k:k + 1], size=x.shape[2:], mode=mode, align_corners=False)
            for i in range(n):
                u = up[i]
                rng = u.max() - u.min()
                mask = (u - u.min()) / rng if rng > 0 else torch.zeros_like(u)
                scores[i, k] = m((x[i] * mask).unsqueeze(0))[0, 1]
    w = torch.softmax(scores, dim=1)
    ref = (w.reshape((n, c) + (1,) * (a.dim() - 2)) * a).sum(1, keepdim=True).clamp(min=0)
    for mb in (None, 3):
        got = fa.ScoreCAM(m, layer).attribute(x, target=1, max_batch=mb)
        torch.testing.assert_close(got, ref)


def test_cam_bad_layer():
    m, layer, x = _setup("2d")
    with pytest.raises(ValueError, match="one output tensor|spatial"):
        fa.GradCAMPlusPlus(m, m.fc).attribute(x, target=0)
