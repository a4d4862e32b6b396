"""Ablated-row kernels vs their torch references, over odd shapes and dtypes."""
import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.ablate import (
    ablate_by_id,
    occlude_boxes,
    reference_ablate_by_id,
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
        x1 = torch.randn(2, 13); s1 = torch.tensor([[0], [11]])
        assert torch.equal(occlude_boxes(x1, torch.zeros(1), s1, (4,)), reference_occlude_boxes(x1, torch.zeros(1), s1, (4,)))
        print("OK")
        """
    )
    assert "OK" in out
