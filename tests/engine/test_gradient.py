"""The gradient loop: chunking never changes the answer; layouts follow Captum; the
"with respect to" strategies differentiate what they name."""
import pytest
import torch

from fastxai._captum.errors import InputError
from fastxai.engine import gradient as eg
from fastxai.engine.steps import FunctionPlan, PathPlan, RowPlan, SinglePass
from fastxai.engine.wrt import Inputs, Layer, Neuron, ReplaceLayer, select_neuron
from tests.attr.gradient.models import mlp, multi_input


def _sum_of_grads(chunks, n):
    return [sum(c.grads[i].reshape(-1, n, *c.grads[i].shape[1:]).sum(0) for c in chunks) for i in range(len(chunks[0].grads))]


def _plan(x, steps, target=0, args=None):
    return FunctionPlan(lambda s0, s1: ((torch.cat([x] * (s1 - s0)),), None), steps, x.shape[0], (x,), target, args)


def test_chunks_cover_steps_and_match_one_pass():
    m = multi_input()
    x1, x2 = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    steps = 7

    def build(s0, s1):
        k = s1 - s0
        scale = torch.arange(s0, s1, dtype=torch.float64).repeat_interleave(3).reshape(-1, 1) / steps
        return (torch.cat([x1] * k) * scale, torch.cat([x2] * k) * scale), None

    tgt = torch.tensor([0, 1, 2])
    plan = FunctionPlan(build, steps, 3, (x1, x2), tgt, (2.0,))
    one = list(eg.iterate_gradients(m, plan, sizing=eg.Sizing(internal_batch_size=100)))
    many = list(eg.iterate_gradients(m, plan, sizing=eg.Sizing(max_batch=6)))
    assert len(one) == 1 and len(many) == 4
    assert [c.s0 for c in many] == [0, 2, 4, 6]
    for a, b in zip(_sum_of_grads(one, 3), _sum_of_grads(many, 3)):
        torch.testing.assert_close(a, b)


def test_internal_batch_size_rule_and_warning(recwarn):
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    chunks = list(eg.iterate_gradients(m, _plan(x, 5), sizing=eg.Sizing(internal_batch_size=2)))
    assert [c.s1 - c.s0 for c in chunks] == [1] * 5
    assert any("Internal batch size" in str(w.message) for w in recwarn.list)


def test_max_batch_below_one_step_raises():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    with pytest.raises(InputError, match="max_batch=3"):
        list(eg.iterate_gradients(m, _plan(x, 5), sizing=eg.Sizing(max_batch=3)))


def test_layer_strategy_captures_values_and_gradients():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    chunks = list(eg.iterate_gradients(m, _plan(x, 5, 1), Layer(m.fc2), eg.Sizing(internal_batch_size=6)))
    assert [(c.s0, c.s1) for c in chunks] == [(0, 3), (3, 5)]
    assert chunks[0].layer[0].shape == (6, 16) and chunks[0].grads[0].shape == (6, 16)
    # d out[:, 1] / d fc2-output: the rows of the following layers' Jacobian, checked by autograd
    xr = x.clone().requires_grad_()
    h = {}
    handle = m.fc2.register_forward_hook(lambda mod, i, o: h.setdefault("o", o))
    out = m(xr)[:, 1]
    handle.remove()
    (g,) = torch.autograd.grad(out.sum(), h["o"])
    torch.testing.assert_close(chunks[0].grads[0][:2], g)
    torch.testing.assert_close(chunks[0].layer[0][:2], h["o"].detach())


def test_replace_layer_differentiates_the_replacement():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    with torch.no_grad():
        a = m.fc1(x)
    rep = a * 0.5
    plan = FunctionPlan(lambda s0, s1: ((rep,), (x,)), 1, 2, (x,), 0, None)
    (ch,) = list(eg.iterate_gradients(m, plan, ReplaceLayer(m.fc1), eg.Sizing(internal_batch_size=2)))
    r = rep.clone().requires_grad_()
    out = m.fc3(torch.relu(m.fc2(torch.relu(r))))[:, 0]
    (g,) = torch.autograd.grad(out.sum(), r)
    torch.testing.assert_close(ch.grads[0], g)
    torch.testing.assert_close(ch.outputs, out.detach())


def test_neuron_strategy_and_selector():
    m = mlp()
    x = torch.randn(3, 10, dtype=torch.float64)
    (ch,) = list(eg.iterate_gradients(m, SinglePass((x,), None, None), Neuron(m.fc1, 4),
                                      eg.Sizing(internal_batch_size=3)))
    # fc1 is linear: d fc1(x)[:, 4] / dx = W[4]
    torch.testing.assert_close(ch.grads[0], m.fc1.weight[4].detach().expand(3, -1))
    t = torch.arange(24.0).reshape(2, 3, 4)
    torch.testing.assert_close(select_neuron((t,), (1, 2)), t[:, 1, 2])
    torch.testing.assert_close(select_neuron((t,), (slice(0, 2), 1)), t[:, 0:2, 1].sum(1))
    u = torch.arange(6.0).reshape(2, 3, 1)
    torch.testing.assert_close(select_neuron((u,), 1), u[:, 1])  # fewer indices, one value left
    for bad in ((0, 1, 2), 1):
        with pytest.raises(InputError, match="neuron_selector"):
            select_neuron((t,), bad)


def test_row_plan_slices_per_row_targets():
    m = mlp()
    x = torch.randn(6, 10, dtype=torch.float64)
    tgt = torch.tensor([0, 1, 2, 0, 1, 2])
    plan = RowPlan(lambda r0, r1: (x[r0:r1],), 6, (x[:1],), tgt, None)
    chunks = list(eg.iterate_gradients(m, plan, Inputs(), eg.Sizing(max_batch=2)))
    g = torch.cat([c.grads[0] for c in chunks])
    ref = eg.gradients(m, (x,), tgt, None)[0]
    torch.testing.assert_close(g, ref)


def test_path_plan_points():
    x = torch.ones(2, 3, dtype=torch.float64)
    b = torch.zeros(2, 3, dtype=torch.float64)
    p = PathPlan((x,), (b,), [0.25, 0.75], None, None)
    leaves, fwd = p.points(0, 2)
    assert fwd is None
    torch.testing.assert_close(leaves[0], torch.cat([x * 0.25, x * 0.75]))


def test_max_memory_uses_measured_row_bytes():
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    probe = eg.SavedBytes(m)
    xr = x.clone().requires_grad_()
    with torch.enable_grad(), probe:
        m(xr)[:, 0].sum()
    per_row = probe.nbytes / 4
    assert per_row > 0
    cap = int(3 * per_row * 8 + 3 * 8 * 80 + 100)  # room for ~2 steps of 4 rows
    chunks = list(eg.iterate_gradients(m, _plan(x, 12), sizing=eg.Sizing(max_memory=cap)))
    sizes = [c.s1 - c.s0 for c in chunks]
    assert sizes[0] == 1 and sum(sizes) == 12 and max(sizes) <= 2


def test_non_finite_outputs_raise_in_every_strategy():
    from fastxai._captum.errors import NonFiniteOutputError

    m = mlp()
    x = torch.full((2, 10), float("nan"), dtype=torch.float64)
    for wrt in (Inputs(), Layer(m.fc2), Neuron(m.fc1, 0)):
        with pytest.raises(NonFiniteOutputError):
            list(eg.iterate_gradients(m, _plan(x, 2), wrt, eg.Sizing(internal_batch_size=4)))
