"""The built-in architectures (fastxai.models) through Occlusion: the incremental path equals
the full forward per window, and architectures that cannot take it say why.

Tolerances are relative to the model's outputs (max |f(x)|), not to the map: a patch
convolution sums the same products as the whole-map convolution, but oneDNN may pick
another algorithm / blocking for the smaller shape, so the sums are reassociated and each
output rounds differently by a few ulps; an occlusion value is a difference of two outputs,
so its error is a few ulps of the outputs however small the difference is. float64: 1e-12;
float32: 1e-6 (~8 float32 ulps; measured up to ~1e-7 on these nets, docs/incremental.md).
"""
import pytest
import torch

from fastxai._captum.errors import InputError
from fastxai.attr import FeatureAblation, Occlusion
from fastxai.engine.incremental import PlanOptions
from fastxai.models import get_model
from tests.engine.incremental.nets import randomise_bn

CONV_NETS = ["small_cnn", "resnet_small", "vgg_small", "densenet_small"]


def _pair(name: str, dtype: torch.dtype, size: int = 48):
    torch.manual_seed(0)
    net = randomise_bn(get_model(name, in_channels=1, num_classes=3)).to(dtype)
    x = torch.randn(2, 1, size, size, dtype=dtype)
    return net, x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", CONV_NETS)
def test_occlusion_incremental_equals_full_forward(name: str, dtype: torch.dtype) -> None:
    net, x = _pair(name, dtype)
    kw = dict(sliding_window_shapes=(1, 8, 8), strides=(1, 4, 4), target=torch.tensor([0, 2]), baselines=0.1)
    occ = Occlusion(net)
    got = occ.attribute(x, **kw, incremental=True)
    assert occ.last_plan.path == "incremental", occ.last_plan
    ref = Occlusion(net).attribute(x, **kw, incremental=False)
    with torch.no_grad():
        scale = float(net(x).abs().max())  # rounding scales with the outputs, not their differences
    tol = (1e-12 if dtype == torch.float64 else 1e-6) * scale
    torch.testing.assert_close(got, ref, atol=tol, rtol=0)


@pytest.mark.parametrize("name", CONV_NETS)
def test_auto_reports_the_plan_and_its_ceiling(name: str) -> None:
    net, x = _pair(name, torch.float32, 64)
    occ = Occlusion(net)
    occ.attribute(x, (1, 8, 8), (1, 8, 8), target=0)
    plan = occ.last_plan
    assert plan.path in ("incremental", "full") and plan.reason
    assert plan.flop_ceiling >= 1.0
    if plan.path == "incremental":
        assert plan.flop_ceiling >= plan.planned_speedup >= PlanOptions().min_speedup and "FLOP ceiling" in plan.reason
    else:  # auto only falls back when the plan would not pay
        assert "below" in plan.reason or "no op" in plan.reason, plan.reason


def test_vision_transformer_falls_back_and_says_why() -> None:
    torch.manual_seed(0)
    net = get_model("tiny_vit", in_channels=1, num_classes=2, image_size=32, patch=8).eval()
    x = torch.randn(2, 1, 32, 32)
    occ = Occlusion(net)
    got = occ.attribute(x, (1, 8, 8), (1, 8, 8), target=0)
    assert occ.last_plan.path == "full", occ.last_plan
    # its forward checks the token count in Python: fx cannot trace it, and the plan says so
    assert "torch.fx cannot trace" in occ.last_plan.reason and "control flow" in occ.last_plan.reason
    with pytest.raises(InputError, match="incremental path cannot run"):
        occ.attribute(x, (1, 8, 8), (1, 8, 8), target=0, incremental_tau=0.5)
    torch.testing.assert_close(got, Occlusion(net).attribute(x, (1, 8, 8), (1, 8, 8), target=0, incremental=False))


def test_feature_ablation_skips_segments_that_are_not_compact() -> None:
    net, x = _pair("resnet_small", torch.float64, 32)
    stripes = (torch.arange(32).view(1, 32) % 4).expand(32, 32).reshape(1, 1, 32, 32)  # 4 ids, each spans the image
    fa = FeatureAblation(net)
    got = fa.attribute(x, target=0, feature_mask=stripes)
    assert fa.last_plan.path == "full" and "covers 100%" in fa.last_plan.reason, fa.last_plan
    blocks = torch.arange(16).view(4, 4).repeat_interleave(8, 0).repeat_interleave(8, 1).reshape(1, 1, 32, 32)
    fa.attribute(x, target=0, feature_mask=blocks, incremental=True)
    assert fa.last_plan.path == "incremental"
    torch.testing.assert_close(got, FeatureAblation(net).attribute(x, target=0, feature_mask=stripes, incremental=False))


def test_incremental_results_do_not_depend_on_the_chunk_size() -> None:
    """Determinism rule: bit-identical across perturbations_per_eval (one thread, float32)."""
    net, x = _pair("resnet_small", torch.float32, 40)
    kw = dict(sliding_window_shapes=(1, 8, 8), strides=(1, 4, 4), target=1, incremental=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [Occlusion(net).attribute(x, **kw, perturbations_per_eval=p) for p in (1, 7, None)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(r, runs[0]) for r in runs[1:])
