"""Seeded draws of the gradient family (fastxai/engine/draws.py) come from ops.philox's grid,
whose C++ row fill and torch reference give the same bits (tests/ops/test_philox.py): a seed
means the same attributions on every backend."""
import pytest
import torch

from fastxai import _ext, backends
from fastxai.attr import GradientShap, NoiseTunnel, Saliency


@pytest.mark.skipif(not _ext.HAS_CPP, reason="compiled module not built")
def test_seeded_gradient_shap_and_noise_tunnel_are_backend_independent():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(2, 3, 8, 8)
    out = {}
    for name in ("torch", "cpp"):
        with backends.use_backend(name):
            gs = GradientShap(net).attribute(x, torch.zeros(3, 3, 8, 8), target=1, n_samples=5,
                                             stdevs=0.3, seed=11)
            nt = NoiseTunnel(Saliency(net)).attribute(x, nt_samples=4, stdevs=0.2, target=0, seed=11)
        out[name] = (gs, nt)
    assert torch.equal(out["torch"][0], out["cpp"][0])
    assert torch.equal(out["torch"][1], out["cpp"][1])
