"""The perturbation loop: one plan + one accumulator, forward-shape checks, progress."""
import pytest
import torch

from fastxai._captum.errors import InputError
from fastxai._captum.targets import TargetSelector
from fastxai.engine.perturb import EngineOptions, initial_outputs, run_perturbations


class ScalePlan:
    """Perturbation p multiplies the input by (p + 1)."""

    n_perturbations = 10

    def build(self, inputs, p0, p1):
        x = inputs[0]
        k = torch.arange(p0 + 1, p1 + 1, dtype=x.dtype).reshape(-1, *([1] * x.dim()))
        return ((x.unsqueeze(0) * k).reshape(-1, *x.shape[1:]),)


class Collect:
    def __init__(self):
        self.rows = {}
        self.calls = 0

    def update(self, p0, p1, outputs):
        self.calls += 1
        for i, p in enumerate(range(p0, p1)):
            self.rows[p] = outputs[i].clone()


@pytest.mark.parametrize("ppe", [None, 1, 3, 100])
def test_every_perturbation_once_in_captum_layout(ppe) -> None:
    x = torch.randn(4, 3)
    f = lambda t: t.sum(dim=1, keepdim=True)
    sel = TargetSelector(0)
    init = initial_outputs(f, (x,), sel, None)
    acc = Collect()
    run_perturbations(ScalePlan(), acc, f, (x,), sel, None, init, EngineOptions(ppe))
    assert sorted(acc.rows) == list(range(10))
    for p, out in acc.rows.items():
        torch.testing.assert_close(out, (p + 1) * x.sum(dim=1))
    if ppe == 1:
        assert acc.calls == 10


def test_aggregating_forward_is_refused_with_advice() -> None:
    x = torch.randn(4, 3)
    f = lambda t: t[:4].sum(dim=1, keepdim=True)  # ignores extra rows
    sel = TargetSelector(0)
    init = initial_outputs(f, (x,), sel, None)
    with pytest.raises(InputError, match="perturbations_per_eval=1"):
        run_perturbations(ScalePlan(), Collect(), f, (x,), sel, None, init, EngineOptions(5))


def test_progress_bar(capsys) -> None:
    x = torch.randn(2, 3)
    f = lambda t: t.sum(dim=1, keepdim=True)
    sel = TargetSelector(0)
    run_perturbations(ScalePlan(), Collect(), f, (x,), sel, None, initial_outputs(f, (x,), sel, None),
                      EngineOptions(show_progress=True, desc="scale"))
    assert "scale" in capsys.readouterr().err


class DeferredCollect(Collect):
    deferred = True


class CountingPlan(ScalePlan):
    def __init__(self):
        self.builds = []

    def build(self, inputs, p0, p1):
        self.builds.append((p0, p1))
        return super().build(inputs, p0, p1)


@pytest.mark.parametrize("prebuild_bytes", [0, 1 << 20])
@pytest.mark.parametrize("acc_cls", [Collect, DeferredCollect])
def test_prebuilt_and_deferred_paths_give_the_same_rows(monkeypatch, prebuild_bytes, acc_cls) -> None:
    import fastxai.engine.perturb as perturb

    monkeypatch.setattr(perturb, "PREBUILD_BYTES", prebuild_bytes)
    x = torch.randn(4, 3)
    f = lambda t: t.sum(dim=1, keepdim=True)
    sel = TargetSelector(0)
    plan, acc = CountingPlan(), acc_cls()
    run_perturbations(plan, acc, f, (x,), sel, None, initial_outputs(f, (x,), sel, None), EngineOptions(3))
    for p, out in acc.rows.items():
        torch.testing.assert_close(out, (p + 1) * x.sum(dim=1))
    assert sorted(acc.rows) == list(range(10))
    # prebuilt: one build of everything; otherwise one build per chunk (contiguous, in order)
    if prebuild_bytes:
        assert plan.builds == [(0, 10)]
    else:
        assert len(plan.builds) > 1 and plan.builds[0][0] == 0 and plan.builds[-1][1] == 10
        assert all(a[1] == b[0] for a, b in zip(plan.builds, plan.builds[1:]))
    if acc_cls is DeferredCollect:
        assert acc.calls == 1
    else:
        assert acc.calls > 1


@pytest.mark.parametrize("acc_cls", [Collect, DeferredCollect])
def test_non_finite_output_names_its_chunk(acc_cls) -> None:
    from fastxai._captum.errors import NonFiniteOutputError

    x = torch.ones(2, 3)
    # perturbation p scales by p + 1; outputs of perturbation 7 (scale 8) become NaN
    f = lambda t: torch.where(t.sum(1, keepdim=True) == 24.0, float("nan"), t.sum(1, keepdim=True))
    sel = TargetSelector(0)
    init = initial_outputs(f, (x,), sel, None)
    with pytest.raises(NonFiniteOutputError, match=r"chunk 7\.\.7 "):
        run_perturbations(ScalePlan(), acc_cls(), f, (x,), sel, None, init, EngineOptions(1))
