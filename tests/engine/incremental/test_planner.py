"""The plan: when the incremental path applies, why it does not, and its FLOP ceiling."""
import torch
from torch import Tensor, nn

from fastxai.engine.incremental import PlanOptions, build_plan, run_all
from tests.engine.incremental.nets import occluded_outputs, window_starts, windows

ANY = PlanOptions(min_speedup=0.0, max_local_fraction=1.0)
ZERO = torch.tensor(0.0)


def _plan(model, x: Tensor, window=(1, 4, 4), stride=(1, 4, 4), options=ANY):
    return build_plan(model, x, ZERO, windows(x, window, stride), options)


def _convnet(*middle: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), *middle,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()


def test_plain_functions_and_untraceable_models_fall_back_with_a_reason() -> None:
    x = torch.randn(2, 1, 12, 12)
    plan = _plan(lambda t: t.sum((1, 2, 3)), x)
    assert not plan.applies and "not a torch.nn.Module" in plan.reason

    class Branchy(nn.Module):
        def forward(self, t: Tensor) -> Tensor:
            return t.flatten(1) if t.sum() > 0 else -t.flatten(1)

    plan = _plan(Branchy(), x)
    assert not plan.applies and "torch.fx cannot trace" in plan.reason


def test_non_local_first_op_means_nothing_runs_on_patches() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(288, 2))
    plan = _plan(net.eval(), torch.randn(1, 1, 12, 12))
    assert not plan.applies
    assert "no op after the input can run on patches" in plan.reason and "'reflect'" in plan.reason


def test_global_and_unknown_ops_switch_to_the_full_forward() -> None:
    x = torch.randn(2, 1, 12, 12)
    for middle, words in [
        (nn.LayerNorm([4, 12, 12]), "LayerNorm"),
        (nn.Upsample(scale_factor=1), "Upsample"),
    ]:
        plan = _plan(_convnet(middle), x)
        assert plan.applies, plan.reason
        assert words in plan.reason and "full forward from" in plan.reason
        net = plan.gm  # the traced copy shares the model's parameters
        ref = occluded_outputs(net, x, window_starts(x.shape[1:], (1, 4, 4), (1, 4, 4)), (1, 4, 4), ZERO)
        torch.testing.assert_close(run_all(plan, 3), ref)


def test_spatially_varying_constants_are_not_local() -> None:
    class PosAdd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pos = nn.Parameter(torch.randn(1, 4, 12, 12))
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, t: Tensor) -> Tensor:
            return self.conv2(self.conv(t) + self.pos).mean((2, 3))

    net = PosAdd().eval()
    x = torch.randn(2, 1, 12, 12)
    plan = _plan(net, x)
    assert plan.applies and "varies over space" in plan.reason
    ref = occluded_outputs(net, x, window_starts(x.shape[1:], (1, 4, 4), (1, 4, 4)), (1, 4, 4), ZERO)
    torch.testing.assert_close(run_all(plan, 4), ref)


def test_in_place_write_into_a_shared_value_is_refused() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, t: Tensor) -> Tensor:
            y = self.conv(t)
            z = torch.relu_(y)
            return (z + y).mean((2, 3))

    plan = _plan(Shared().eval(), torch.randn(1, 1, 8, 8))
    assert not plan.applies and "in place" in plan.reason


def test_outputs_not_per_example_and_training_batchnorm() -> None:
    class Total(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, t: Tensor) -> Tensor:
            return self.conv(t).sum()

    plan = _plan(Total().eval(), torch.randn(2, 1, 8, 8))
    assert not plan.applies and "row per example" in plan.reason
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Conv2d(2, 2, 3), nn.Flatten()).train()
    plan = _plan(net, torch.randn(2, 1, 12, 12))
    assert "training mode" in plan.reason


def test_too_little_to_gain_falls_back() -> None:
    x = torch.randn(1, 1, 8, 8)
    plan = _plan(_convnet(), x, window=(1, 8, 8), stride=(1, 8, 8), options=PlanOptions())
    assert not plan.applies and "covers 100% of its map" in plan.reason and plan.flop_ceiling == 1.0
    plan = _plan(_convnet(), x, window=(1, 4, 4), stride=(1, 4, 4), options=PlanOptions(min_speedup=50.0))
    assert not plan.applies and "below 50.00x" in plan.reason


def test_flop_ceiling_matches_changed_positions_counted_by_brute_force() -> None:
    torch.manual_seed(1)
    convs = [nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.Conv2d(5, 4, 5, padding=2)]
    layers = []
    for c in convs:
        layers += [c, nn.Tanh()]  # strictly monotonic: every changed input changes the output
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).double().eval()
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    starts = window_starts(x.shape[1:], (1, 4, 4), (1, 3, 3))
    maps = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: maps.__setitem__(k, o)) for k, m in enumerate(layers)]
    net(x)
    clean = dict(maps)
    changed = torch.zeros(len(layers), dtype=torch.float64)
    for s in starts.tolist():
        xp = x.clone()
        xp[:, :, s[1] : s[1] + 4, s[2] : s[2] + 4] = 0.0
        net(xp)
        for k in range(len(layers)):
            diff = (maps[k] != clean[k]).any(1)[0]
            ys, xs = diff.nonzero(as_tuple=True)
            changed[k] += (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) if len(ys) else 0
    for h in hooks:
        h.remove()
    changed /= len(starts)
    per_pos = []
    for k, m in enumerate(layers):
        c = clean[k].shape[1]
        per_pos.append(2 * m.in_channels * m.kernel_size[0] * m.kernel_size[1] * c if isinstance(m, nn.Conv2d) else c)
    full = sum(p * clean[k][0, 0].numel() for k, p in enumerate(per_pos)) + 4 + 4 + 2 * 4 * 3
    ideal = sum(p * float(changed[k]) for k, p in enumerate(per_pos)) + 4 + 4 + 2 * 4 * 3
    plan = build_plan(net, x, torch.tensor(0.0, dtype=torch.float64), windows(x, (1, 4, 4), (1, 3, 3)), ANY)
    assert abs(plan.flop_ceiling - full / ideal) < 1e-9 * full / ideal
