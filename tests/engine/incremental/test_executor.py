"""Incremental outputs equal the model on every explicitly occluded input.

float64: equal within 1e-10 (near exact); float32: within 1e-5 relative to the output scale
(patches and whole maps may use different convolution algorithms, so rounding differs).
"""
from typing import Sequence

import pytest
import torch
from torch import nn

from fastxai.engine.incremental import PlanOptions, PatchRunner, build_plan, materialize, run_all
from fastxai.engine.incremental.geometry import Patch
from fastxai.models import get_model
from tests.engine.incremental.nets import (
    Conv1dNet, Conv3dNet, FunctionalNet, GeometryNet, occluded_outputs, randomise_bn, window_starts, windows,
)

ANY = PlanOptions(min_speedup=0.0, max_local_fraction=1.0)


def _check(model: nn.Module, x: torch.Tensor, window: Sequence[int], stride: Sequence[int],
           baseline: torch.Tensor, chunk: int = 5, options: PlanOptions = ANY) -> None:
    pert = windows(x, window, stride)
    plan = build_plan(model, x, baseline, pert, options)
    assert plan.applies, plan.reason
    got = run_all(plan, chunk)
    ref = occluded_outputs(model, x, window_starts(x.shape[1:], window, stride), window, baseline)
    tol = 1e-10 if x.dtype == torch.float64 else 1e-5 * float(ref.abs().max())
    torch.testing.assert_close(got, ref, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_geometry_net(dtype: torch.dtype) -> None:
    net = randomise_bn(GeometryNet()).to(dtype)
    x = torch.randn(2, 3, 29, 23, dtype=dtype)
    _check(net, x, (3, 6, 5), (3, 4, 3), torch.tensor(0.0, dtype=dtype))


def test_channel_windows_and_tensor_baseline() -> None:
    net = randomise_bn(GeometryNet()).double()
    x = torch.randn(3, 3, 20, 20, dtype=torch.float64)
    base = torch.randn(1, 3, 20, 20, dtype=torch.float64)
    _check(net, x, (1, 4, 4), (1, 3, 5), base, chunk=7)


def test_per_example_baseline_and_scalar() -> None:
    net = FunctionalNet().double().eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    _check(net, x, (3, 3, 3), (3, 2, 2), torch.randn(2, 3, 16, 16, dtype=torch.float64))
    _check(net, x, (2, 5, 5), (1, 5, 5), torch.tensor(0.7, dtype=torch.float64))


@pytest.mark.parametrize("name", ["resnet_small", "densenet_small", "vgg_small", "small_cnn"])
def test_builtin_models(name: str) -> None:
    net = randomise_bn(get_model(name, in_channels=1, num_classes=3)).double()
    x = torch.randn(2, 1, 40, 40, dtype=torch.float64)
    _check(net, x, (1, 8, 8), (1, 5, 5), torch.tensor(0.1, dtype=torch.float64), chunk=16)


def test_1d_and_3d() -> None:
    net1 = randomise_bn(Conv1dNet()).double()
    x1 = torch.randn(2, 2, 37, dtype=torch.float64)
    _check(net1, x1, (2, 5), (2, 3), torch.tensor(0.0, dtype=torch.float64))
    net3 = randomise_bn(Conv3dNet()).double()
    x3 = torch.randn(1, 1, 8, 12, 12, dtype=torch.float64)
    _check(net3, x3, (1, 3, 4, 4), (1, 3, 4, 4), torch.tensor(0.0, dtype=torch.float64))


def test_switch_to_full_forward_is_exact() -> None:
    net = randomise_bn(get_model("resnet_small", in_channels=1, num_classes=3)).double()
    x = torch.randn(1, 1, 48, 48, dtype=torch.float64)
    opts = PlanOptions(min_speedup=0.0, max_local_fraction=0.3)
    plan = build_plan(net, x, torch.tensor(0.0, dtype=torch.float64), windows(x, (1, 8, 8), (1, 8, 8)), opts)
    modes = [p.mode for p in plan.nodes]
    assert "local" in modes and "full" in modes[modes.index("local"):], plan.reason
    _check(net, x, (1, 8, 8), (1, 8, 8), torch.tensor(0.0, dtype=torch.float64), options=opts)


def test_chunks_may_be_any_range() -> None:
    net = randomise_bn(GeometryNet()).double()
    x = torch.randn(1, 3, 18, 18, dtype=torch.float64)
    pert = windows(x, (3, 4, 4), (3, 3, 3))
    opts = PlanOptions(min_speedup=0.0, max_local_fraction=0.5)  # local ops, then whole maps
    plan = build_plan(net, x, torch.tensor(0.0, dtype=torch.float64), pert, opts)
    assert {"local", "full"} <= {p.mode for p in plan.nodes}
    runner = PatchRunner(plan)
    whole = runner.forward(0, pert.n_perturbations)
    torch.testing.assert_close(torch.cat([runner.forward(3, 11), runner.forward(11, 12)]), whole[3:12])
    # one perturbation per chunk, many times: nothing may write into the cached maps
    torch.testing.assert_close(run_all(plan, 1), whole)


def test_materialize_writes_patches_at_their_offsets() -> None:
    cached = torch.randn(2, 3, 5, 6)
    patch = Patch((2, 3), torch.tensor([[0, 0], [3, 3], [1, 2]]), (5, 6))
    rows = torch.randn(3 * 2, 2, 3, 3)  # (B, *h, C)
    out = materialize(cached, rows, patch, 0, 3).view(3, 2, 3, 5, 6)
    for j in range(3):
        want = cached.clone()
        y, x = patch.off[j].tolist()
        want[:, :, y : y + 2, x : x + 3] = rows.view(3, 2, 2, 3, 3)[j].permute(0, 3, 1, 2)
        torch.testing.assert_close(out[j], want)
