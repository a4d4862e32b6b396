"""Config method specs -> maps (N, H, W) through fastxai.attr, equal to calling the class directly."""
from __future__ import annotations

import pytest
import torch

import fastxai.attr as A
from fastxai.bench.config import MethodSection
from fastxai.bench.methods import Explainer, available_methods, feature_mask, grid_mask, to_map
from fastxai.models import SmallCNN, TinyViT


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return SmallCNN(1, 2, width=4).eval()


def test_available_methods_are_the_attr_classes():
    names = available_methods()
    assert {"Saliency", "IntegratedGradients", "Occlusion", "RISE", "KernelShap", "LayerGradCam",
            "AttentionRollout", "NoiseTunnel"} <= set(names)
    assert "Attribution" not in names and "EpsilonRule" not in names


def test_plain_method_equals_direct_call(cnn):
    x = torch.randn(3, 1, 16, 16)
    t = torch.tensor([0, 1, 1])
    got = Explainer(MethodSection(name="InputXGradient"), cnn)(x, t, ["a", "b", "c"])
    ref = A.InputXGradient(cnn).attribute(x, target=t).sum(1)
    assert got.shape == (3, 16, 16) and torch.allclose(got, ref)


def test_layer_method_upsampled(cnn):
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([1, 0])
    got = Explainer(MethodSection(name="LayerGradCam", layer="features.6"), cnn)(x, t, ["a", "b"])
    raw = A.LayerGradCam(cnn, cnn.features[6]).attribute(x, target=t)
    assert got.shape == (2, 16, 16) and torch.allclose(got, to_map(raw, (16, 16)))


def test_mask_methods_get_a_grid_and_a_seed(cnn):
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([1, 1])
    e = Explainer(MethodSection(name="KernelShap", params={"n_samples": 16}), cnn, seed=5)
    assert e.mask_spec() == "grid:8" and e.kwargs["seed"] == 5
    ref = A.KernelShap(cnn).attribute(x, target=t, n_samples=16, seed=5, feature_mask=grid_mask(16, 16, 8))
    assert torch.allclose(e(x, t, ["a", "b"]), ref.sum(1))
    m = grid_mask(4, 6, 2)
    assert m.tolist() == [[[[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2]]
    assert feature_mask("slic:4", torch.rand(2, 1, 16, 16)).shape == (2, 1, 16, 16)


def test_noise_tunnel_and_list_params(cnn):
    x = torch.randn(1, 1, 16, 16)
    spec = MethodSection(name="NoiseTunnel", wraps="Saliency", params={"nt_samples": 2, "stdevs": 0.1})
    assert Explainer(spec, cnn)(x, torch.tensor([1]), ["a"]).shape == (1, 16, 16)
    occ = MethodSection(name="Occlusion", params={"sliding_window_shapes": [1, 4, 4], "strides": [1, 4, 4]})
    got = Explainer(occ, cnn)(x, torch.tensor([1]), ["a"])
    ref = A.Occlusion(cnn).attribute(x, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4), target=torch.tensor([1]))
    assert torch.allclose(got, ref.sum(1))


def test_attention_rollout_maps_patches_to_pixels():
    torch.manual_seed(0)
    vit = TinyViT(1, 2, image_size=16, patch=4, dim=16, depth=2, heads=2).eval()
    got = Explainer(MethodSection(name="AttentionRollout"), vit)(torch.randn(2, 1, 16, 16), torch.tensor([0, 1]),
                                                                  ["a", "b"])
    assert got.shape == (2, 16, 16) and float(got.amax()) <= 1.0 + 1e-6
