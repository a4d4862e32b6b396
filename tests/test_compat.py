"""fastxai.compat.check: Captum vs fastxai on the user's model; differences, speed, clear errors."""
import math
import sys

import pytest
import torch

from fastxai import compat
from tests.compat_models import mlp

pytest.importorskip("captum.attr")


@pytest.fixture
def net():
    return mlp().eval()


@pytest.mark.parametrize("method,kwargs", [
    ("Saliency", dict(target=1)),
    ("IntegratedGradients", dict(target=2, n_steps=16)),
    ("GradientShap", dict(target=1, baselines=torch.randn(3, 6), n_samples=4)),  # numpy + torch draws
    ("NoiseTunnel(Saliency)", dict(target=0, nt_samples=3, stdevs=0.2)),
    ("FeatureAblation", dict(target=1)),
])
def test_same_numbers(net, method, kwargs):
    x = torch.randn(5, 6)
    r = compat.check(method, net, x, repeats=2, **kwargs)
    assert r.close and r.mismatch is None, str(r)
    assert r.max_abs_diff < 1e-5 and r.shapes == [(5, 6)]
    assert r.repeats == 2 and r.captum_seconds > 0 and r.fastxai_seconds > 0
    assert r.speedup == pytest.approx(r.captum_seconds / r.fastxai_seconds)
    assert method in str(r) and "same numbers" in str(r)


def test_layer_method_delta_and_fastxai_only_kwargs(net):
    x = torch.randn(4, 6)
    r = compat.check("LayerIntegratedGradients", net, x, repeats=1, init_kwargs=dict(layer=net[1]),
                     fastxai_kwargs=dict(max_batch=8), target=1, return_convergence_delta=True)
    assert r.close and r.shapes == [(4, 8), (4,)]


def test_compare_reports_differences():
    a, b = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([1.0, 2.5, 1e-9])
    close, max_abs, max_rel, mismatch = compat._compare([a], [b], rtol=1e-4, atol=1e-5)
    assert not close and max_abs == pytest.approx(0.5) and max_rel == pytest.approx(0.2)
    assert mismatch is None
    close, max_abs, _, mismatch = compat._compare([a], [b[:2]], 1e-4, 1e-5)
    assert not close and math.isinf(max_abs) and "shape" in mismatch
    assert compat._compare([a, a], [a], 1e-4, 1e-5)[3].startswith("fastxai returned 2")
    nan = torch.tensor([float("nan")])
    assert compat._compare([nan], [nan], 1e-4, 1e-5)[:2] == (True, 0.0)
    assert compat._compare([nan], [torch.tensor([1.0])], 1e-4, 1e-5)[:2] == (False, math.inf)
    inf = torch.tensor([math.inf])
    assert compat._compare([inf], [inf], 1e-4, 1e-5)[:2] == (True, 0.0)


def test_unknown_method_suggests(net):
    with pytest.raises(ValueError, match="did you mean 'IntegratedGradients'"):
        compat.check("IntegratedGradient", net, torch.randn(2, 6))
    with pytest.raises(ValueError, match="repeats"):
        compat.check("Saliency", net, torch.randn(2, 6), repeats=0)
    assert "DataLoaderAttribution" not in compat.method_names()
    assert {"Saliency", "Occlusion", "LayerGradCam"} <= set(compat.method_names())


def test_captum_absent(monkeypatch, net):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(compat.CaptumNotInstalled, match="pip install captum"):
        compat.check("Saliency", net, torch.randn(2, 6), target=0)
