"""Seeded draws of the gradient family (fastxai/engine/draws.py): the per-row C++ fill and the
broadcast torch reference give the same bits, so a seed means the same numbers on every backend."""
import pytest
import torch

from fastxai import _ext, backends
from fastxai.attr import GradientShap, NoiseTunnel, Saliency
from fastxai.engine.draws import _ROW_FILL_MIN, element_uniforms
from fastxai.ops.philox import reference_philox_uniform

needs_cpp = pytest.mark.skipif(not _ext.HAS_CPP, reason="compiled module not built")


def _reference_grid(seed, f, n, s, stream, sample0):
    el = torch.arange(f).reshape(1, 1, -1)
    ss = torch.arange(sample0, sample0 + s).reshape(1, -1, 1)
    e = torch.arange(n).reshape(-1, 1, 1)
    return reference_philox_uniform(seed, el, ss, e, stream)


@needs_cpp
@pytest.mark.parametrize("f", [_ROW_FILL_MIN, 3 * 17 * 5])
@pytest.mark.parametrize("seed", [0, 2**40 + 7])
def test_row_fill_equals_the_reference(f, seed):
    with backends.use_backend("cpp"):
        got = element_uniforms(seed, f, 3, 4, stream=17, device=torch.device("cpu"), sample0=5)
    assert backends.last_backend.get("philox_uniform") == "cpp"
    want = _reference_grid(seed, f, 3, 4, 17, 5)
    assert got.shape == (3, 4, f) and got.dtype == torch.float32
    assert torch.equal(got, want)


def test_small_rows_and_the_torch_backend_use_the_reference():
    with backends.use_backend("torch"):
        got = element_uniforms(3, 200, 2, 3, stream=16, device=torch.device("cpu"))
    assert torch.equal(got, _reference_grid(3, 200, 2, 3, 16, 0))
    got = element_uniforms(3, _ROW_FILL_MIN - 1, 2, 3, stream=16, device=torch.device("cpu"))
    assert torch.equal(got, _reference_grid(3, _ROW_FILL_MIN - 1, 2, 3, 16, 0))
    assert element_uniforms(3, 100, 0, 3, 16, torch.device("cpu")).shape == (0, 3, 100)


@needs_cpp
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
