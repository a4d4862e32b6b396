"""Fixed-order reductions: the same bits whatever the thread count, chunking or row count."""
import pytest
import torch

from fastxai.engine.ordered import fixed_order_sum, ordered_add, single_threaded


def _threads(n, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("shape,dim", [((1 << 18, 4), 0), ((5, 70001), 1), ((7, 3, 5), 1), ((1, 9), 0), ((0, 4), 0)])
def test_fixed_order_sum_is_thread_invariant_and_right(shape, dim):
    t = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    one = _threads(1, lambda: fixed_order_sum(t, dim))
    two = _threads(2, lambda: fixed_order_sum(t, dim))
    assert torch.equal(one, two)
    torch.testing.assert_close(one, t.sum(dim), rtol=1e-12, atol=1e-9)
    # the tree depends on the reduced length only: a slice of the other dims gives the same bits
    if t.dim() == 2 and t.shape[1 - dim] > 1:
        part = fixed_order_sum(t.narrow(1 - dim, 0, 1), dim)
        assert torch.equal(part, one.narrow(0, 0, 1))


def test_ordered_add_is_chunk_invariant():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 3, generator=g), torch.randn(50, 17, generator=g)
    whole = ordered_add(torch.zeros(3, 17, dtype=torch.float64), a, b)
    acc = torch.zeros(3, 17, dtype=torch.float64)
    for lo, hi in [(0, 7), (7, 8), (8, 31), (31, 50)]:
        ordered_add(acc, a[lo:hi], b[lo:hi])
    assert torch.equal(whole, acc)
    torch.testing.assert_close(whole, a.double().T @ b.double())


def test_single_threaded_restores_the_thread_count():
    before = torch.get_num_threads()
    with single_threaded():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with single_threaded():
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
