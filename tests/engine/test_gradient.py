"""The gradient loop: chunking never changes the answer; layouts follow Captum."""
import torch

from fastxai.engine import gradient as eg
from tests.attr._gradient.models import mlp, multi_input


def _sum_of_grads(chunks, n):
    return [sum(c.grads[i].reshape(-1, n, *c.grads[i].shape[1:]).sum(0) for c in chunks) for i in range(len(chunks[0].grads))]


def test_chunks_cover_steps_and_match_one_pass():
    m = multi_input()
    x1, x2 = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    steps = 7

    def build(s0, s1):
        k = s1 - s0
        scale = torch.arange(s0, s1, dtype=torch.float64).repeat_interleave(3).reshape(-1, 1) / steps
        return (torch.cat([x1] * k) * scale, torch.cat([x2] * k) * scale), None

    tgt = torch.tensor([0, 1, 2])
    one = list(eg.iterate_gradients(m, build, steps, 3, tgt, (2.0,), (x1, x2), internal_batch_size=100))
    many = list(eg.iterate_gradients(m, build, steps, 3, tgt, (2.0,), (x1, x2), max_batch=6))
    assert len(one) == 1 and len(many) == 4
    assert [c.s0 for c in many] == [0, 2, 4, 6]
    for a, b in zip(_sum_of_grads(one, 3), _sum_of_grads(many, 3)):
        torch.testing.assert_close(a, b)


def test_internal_batch_size_rule_and_warning(recwarn):
    m = mlp()
    x = torch.randn(4, 10, dtype=torch.float64)
    chunks = list(eg.iterate_gradients(m, lambda s0, s1: ((torch.cat([x] * (s1 - s0)),), None), 5, 4, 0, None, (x,),
                                       internal_batch_size=2))
    assert [c.s1 - c.s0 for c in chunks] == [1] * 5
    assert any("Internal batch size" in str(w.message) for w in recwarn.list)


def test_layer_capture_and_overlap():
    m = mlp()
    x = torch.randn(2, 10, dtype=torch.float64)
    chunks = list(eg.iterate_gradients(m, lambda s0, s1: ((torch.cat([x] * (s1 - s0)),), None), 5, 2, 1, None, (x,),
                                       internal_batch_size=6, layer=m.fc2, overlap=1, min_steps=2))
    assert [(c.s0, c.s1) for c in chunks] == [(0, 3), (2, 5)]
    assert chunks[0].layer[0].shape == (6, 16) and chunks[0].grads[0].shape == (6, 16)


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
    chunks = list(eg.iterate_gradients(m, lambda s0, s1: ((torch.cat([x] * (s1 - s0)),), None), 12, 4, 0, None,
                                       (x,), max_memory=cap))
    sizes = [c.s1 - c.s0 for c in chunks]
    assert sizes[0] == 1 and sum(sizes) == 12 and max(sizes) <= 2
