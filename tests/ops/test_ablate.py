"""Ablated-row kernels vs their torch references, over odd shapes and dtypes."""
import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.ablate import (
    ablate_by_id,
    blend_coalitions,
    occlude_boxes,
    reference_ablate_by_id,
    reference_blend_coalitions,
    reference_occlude_boxes,
)
from tests.triton_interp import run_interpreted

CASES = [
    # x shape, mask shape, baseline shape
    ((3, 2, 5, 7), (1, 1, 5, 7), (1, 2, 5, 7)),
    ((1, 11), (1, 11), (1,)),
    ((4, 3, 6), (4, 3, 6), (4, 3, 6)),
]


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("xs,ms,bs", CASES)
def test_ablate_by_id_cpp(dtype, xs, ms, bs) -> None:
    x = torch.randn(xs).to(dtype)
    mask = torch.randint(0, 5, ms)
    base = torch.randn(bs).to(dtype)
    ids = torch.tensor([3, 0, 4, 4, 9])
    with use_backend("cpp"):
        got = ablate_by_id(x, base, mask, ids)
    assert torch.equal(got, reference_ablate_by_id(x, base, mask, ids))


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_occlude_boxes_cpp(dtype) -> None:
    x = torch.randn(3, 2, 9, 7).to(dtype)
    base = torch.randn(1, 2, 9, 7).to(dtype)
    starts = torch.tensor([[0, 0, 0], [1, 6, 4], [0, 8, 6]])  # last box is clipped at the border
    window = (1, 3, 4)
    with use_backend("cpp"):
        got = occlude_boxes(x, base, starts, window)
    ref = reference_occlude_boxes(x, base, starts, window)
    assert torch.equal(got, ref)
    # the reference itself: box 1 of example 0 replaced exactly there
    manual = x[0].clone()
    manual[1:2, 6:9, 4:8] = base[0, 1:2, 6:9, 4:8]
    assert torch.equal(ref[1 * 3 + 0], manual)


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("xs,starts,window", [
    ((2, 13), [[0], [11], [13], [-2]], (4,)),  # clipped, past the end (empty), negative start
    ((2, 1, 4, 5, 6), [[0, 1, 2, 3], [0, 3, 4, 5], [1, 0, 0, 0]], (1, 2, 2, 2)),  # volumes
    ((3, 2, 9, 7), [[0, 9, 0], [2, 0, 0]], (1, 3, 4)),  # box past the end of one dim: empty
])
def test_occlude_boxes_cpp_edges(xs, starts, window) -> None:
    x = torch.randn(xs)
    base = torch.randn(xs)  # per-example baselines
    st = torch.tensor(starts)
    with use_backend("cpp"):
        got = occlude_boxes(x, base, st, window)
    assert torch.equal(got, reference_occlude_boxes(x, base, st, window))


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
def test_ablate_by_id_cpp_ids_absent_or_repeated() -> None:
    x = torch.randn(4, 40)
    mask = torch.arange(40).reshape(1, 40) % 7
    ids = torch.tensor([6, 6, 100, 0])  # repeated id, id not in the mask
    base = torch.randn(4, 40)
    with use_backend("cpp"):
        got = ablate_by_id(x, base, mask, ids)
    assert torch.equal(got, reference_ablate_by_id(x, base, mask, ids))


BLEND_CASES = [
    # x shape, mask shape, baseline shape, z examples (1 = shared coalitions)
    ((3, 2, 5, 7), (1, 1, 5, 7), (1, 2, 5, 7), 3),
    ((3, 2, 5, 7), (1, 1, 5, 7), (1,), 1),
    ((4, 3, 6), (4, 3, 6), (4, 3, 6), 4),  # per-example masks
    ((4, 3, 6), (4, 3, 6), (1, 3, 6), 1),
    ((2, 11), (1, 11), (2, 11), 2),
]


def _blend_case(xs, ms, bs, nz, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(xs, generator=g).to(dtype)
    # runs of equal ids (as superpixels) plus isolated ones
    mask = (torch.arange(torch.Size(ms).numel()).reshape(ms) // 3 % 5)
    mask.view(-1)[::7] = 4
    base = torch.randn(bs, generator=g).to(dtype)
    z = torch.rand(6, nz, 5, generator=g) > 0.5
    return x, base, mask, z


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("xs,ms,bs,nz", BLEND_CASES)
def test_blend_coalitions_cpp(dtype, xs, ms, bs, nz) -> None:
    x, base, mask, z = _blend_case(xs, ms, bs, nz, dtype)
    with use_backend("cpp"):
        got = blend_coalitions(x, base, mask, z)
    ref = reference_blend_coalitions(x, base, mask, z)
    assert torch.equal(got, ref)
    # the reference itself, element by element for one row
    k, n = 4, xs[0] - 1
    zrow = z[k, n if nz > 1 else 0]
    mrow = mask.expand(xs)[n] if ms[0] > 1 else mask.expand((1,) + xs[1:])[0]
    want = torch.where(zrow[mrow], x[n], base.expand(xs)[n] if bs[0] > 1 else base.expand(xs)[0])
    assert torch.equal(ref[k * xs[0] + n], want)


def test_non_contiguous_input() -> None:
    x = torch.randn(5, 6, 4).transpose(1, 2)  # (5, 4, 6) non-contiguous
    mask = torch.randint(0, 3, (1, 4, 6))
    ids = torch.tensor([0, 2])
    base = torch.zeros(1)
    assert torch.equal(ablate_by_id(x, base, mask, ids), reference_ablate_by_id(x, base, mask, ids))


def test_triton_interpreter_matches_reference() -> None:
    out = run_interpreted(
        """
        import torch
        from fastxai.ops.ablate import *
        torch.manual_seed(0)
        x = torch.randn(3, 2, 5, 7); mask = torch.randint(0, 5, (1, 1, 5, 7)); base = torch.randn(1, 2, 5, 7)
        ids = torch.tensor([3, 0, 4])
        assert torch.equal(ablate_by_id(x, base, mask, ids), reference_ablate_by_id(x, base, mask, ids))
        starts = torch.tensor([[0, 0, 0], [1, 3, 4], [0, 4, 6]])
        assert torch.equal(occlude_boxes(x, base, starts, (1, 2, 3)), reference_occlude_boxes(x, base, starts, (1, 2, 3)))
        for xs, ms, bs, nz in [((3, 2, 5, 7), (1, 1, 5, 7), (1, 2, 5, 7), 3), ((4, 3, 6), (4, 3, 6), (1, 3, 6), 1)]:
            xb = torch.randn(xs); bb = torch.randn(bs); mb = torch.randint(0, 5, ms); zb = torch.rand(4, nz, 5) > 0.5
            assert torch.equal(blend_coalitions(xb, bb, mb, zb), reference_blend_coalitions(xb, bb, mb, zb))
        x1 = torch.randn(2, 13); s1 = torch.tensor([[0], [11]])
        assert torch.equal(occlude_boxes(x1, torch.zeros(1), s1, (4,)), reference_occlude_boxes(x1, torch.zeros(1), s1, (4,)))
        print("OK")
        """
    )
    assert "OK" in out


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_indices_and_shapes_are_checked_before_any_kernel(backend) -> None:
    """No argument can make a kernel read or write outside its buffers: ids that do not index
    the coalitions, box corners of the wrong rank, leading dims that are neither 1 nor N."""
    if backend == "cpp" and not _ext.HAS_CPP:
        pytest.skip("fastxai._C not built")
    x = torch.randn(3, 2, 5)
    z = torch.ones(4, 3, 4, dtype=torch.bool)
    good = torch.randint(0, 4, (1, 2, 5))
    with use_backend(backend):
        assert blend_coalitions(x, torch.zeros(1), good, z).shape == (12, 2, 5)
        for bad in (good + 4, good - 1):
            with pytest.raises(ValueError, match=r"mask ids must lie in \[0, 4\)"):
                blend_coalitions(x, torch.zeros(1), bad, z)
        with pytest.raises(ValueError, match="z must be"):
            blend_coalitions(x, torch.zeros(1), good, z[:, :2])
        with pytest.raises(ValueError, match="first dim 2"):
            ablate_by_id(x, torch.zeros(2, 2, 5), good, torch.tensor([0, 1]))
        with pytest.raises(ValueError, match="mask"):
            ablate_by_id(x, torch.zeros(1), torch.zeros(3, 2, 4, dtype=torch.long), torch.tensor([0]))
        with pytest.raises(ValueError, match=r"starts must be \(K, 2\)"):
            occlude_boxes(x, torch.zeros(1), torch.zeros(3, 1, dtype=torch.long), (1, 2))
        with pytest.raises(ValueError, match="window"):
            occlude_boxes(x, torch.zeros(1), torch.zeros(3, 2, dtype=torch.long), (1,))
        with pytest.raises(ValueError, match="window"):
            occlude_boxes(x, torch.zeros(1), torch.zeros(3, 2, dtype=torch.long), (1, -2))
        # box corners outside the tensor are clipped (never written past its end)
        far = torch.tensor([[-10, -10], [1, 3], [7, 9]])
        torch.testing.assert_close(occlude_boxes(x, torch.zeros(1), far, (12, 4)),
                                   reference_occlude_boxes(x, torch.zeros(1), far, (12, 4)))
