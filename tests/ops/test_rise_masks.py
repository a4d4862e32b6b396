"""RISE mask kernels are bit-identical to the torch reference (C++, and Triton interpreted)."""
import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.rise_masks import reference_rise_masks, rise_masks
from tests.triton_interp import run_interpreted

SHAPES = [((13, 17), (3, 4)), ((5, 6, 7), (2, 3, 2)), ((11,), (4,)), ((1, 1), (1, 1))]


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("spatial,grid", SHAPES)
def test_cpp_bit_identical(spatial, grid) -> None:
    with use_backend("cpp"):
        got = rise_masks(9, 5, 37, spatial, grid, 0.3)
    assert torch.equal(got, reference_rise_masks(9, 5, 37, spatial, grid, 0.3))


def test_chunks_are_slices_of_the_whole() -> None:
    whole = rise_masks(4, 0, 20, (9, 9), (3, 3), 0.5)
    assert torch.equal(torch.cat([rise_masks(4, 0, 7, (9, 9), (3, 3), 0.5),
                                  rise_masks(4, 7, 20, (9, 9), (3, 3), 0.5)]), whole)


def test_triton_interpreter_bit_identical() -> None:
    out = run_interpreted(
        """
        import torch
        from fastxai.ops.rise_masks import reference_rise_masks, rise_masks
        for spatial, grid in [((13, 17), (3, 4)), ((5, 6, 7), (2, 3, 2)), ((11,), (4,))]:
            assert torch.equal(rise_masks(9, 5, 20, spatial, grid, 0.3),
                               reference_rise_masks(9, 5, 20, spatial, grid, 0.3)), spatial
        print("OK")
        """
    )
    assert "OK" in out


def test_bad_ranges_raise() -> None:
    from fastxai.ops.rise_masks import rise_masks

    for args in [(5, 3, (8, 8), (2, 2)), (-1, 3, (8, 8), (2, 2)), (0, 3, (8, 8), (0, 2)),
                 (0, 3, (8, 8), (2,)), (0, 3, (8, 0), (2, 2)), (0, 2, (2, 2, 2, 2), (1, 1, 1, 1))]:
        with pytest.raises(ValueError, match="rise_masks"):
            rise_masks(0, args[0], args[1], args[2], args[3], 0.5)
