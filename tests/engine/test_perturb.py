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
