"""ig_path ops: C++ and Triton (interpreter) against the torch reference on odd shapes."""
import pytest
import torch

from fastxai import _ext
from fastxai.backends import use_backend
from fastxai.ops.ig_path import (
    ig_interpolate,
    ig_weighted_sum,
    reference_ig_interpolate,
    reference_ig_weighted_sum,
)
from tests.triton_interp import run_interpreted

SHAPES = [(1, 1), (3, 5), (2, 3, 7, 5), (0, 4)]


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpp_matches_reference(shape, dtype):
    x = torch.randn(shape, dtype=dtype)
    b = torch.randn((1,) + shape[1:], dtype=dtype)
    alphas = torch.rand(5, dtype=torch.float64)
    with use_backend("cpp"):
        got = ig_interpolate(x, b, alphas)
    ref = reference_ig_interpolate(x, b, alphas)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    g = torch.randn((5 * shape[0],) + shape[1:], dtype=dtype)
    w = torch.rand(5, dtype=torch.float64)
    acc0 = torch.randn(shape, dtype=torch.float64)
    with use_backend("cpp"):
        got = ig_weighted_sum(g, w, shape[0], acc0.clone())
    ref = reference_ig_weighted_sum(g, w, shape[0], acc0.clone())
    torch.testing.assert_close(got, ref, rtol=0, atol=0)  # same roundings, same order


def test_weighted_sum_does_not_depend_on_chunking():
    g = torch.randn(7 * 3, 5)
    w = torch.rand(7, dtype=torch.float64)
    whole = ig_weighted_sum(g, w, 3)
    parts = ig_weighted_sum(g[:6], w[:2], 3)
    parts = ig_weighted_sum(g[6:], w[2:], 3, parts)
    assert torch.equal(whole, parts)


def test_non_contiguous_and_scalar_baseline():
    x = torch.randn(4, 6, dtype=torch.float64).t()  # (6, 4) non-contiguous
    b = torch.tensor(0.5, dtype=torch.float64)
    got = ig_interpolate(x, b, [0.0, 0.25, 1.0])
    ref = torch.cat([b + a * (x - b) for a in (0.0, 0.25, 1.0)])
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_triton_interpreter_matches_reference():
    out = run_interpreted(
        """
        import torch
        from fastxai.ops.ig_path import ig_interpolate, ig_weighted_sum, reference_ig_interpolate, reference_ig_weighted_sum
        from fastxai import backends
        for shape, dt in [((1, 1), torch.float32), ((3, 5), torch.float32), ((2, 3, 7, 5), torch.float32),
                          ((3, 1025), torch.float64)]:
            x = torch.randn(shape, dtype=dt); b = torch.randn((1,) + shape[1:], dtype=dt)
            a = torch.rand(4, dtype=torch.float64)
            got = ig_interpolate(x, b, a)
            assert backends.last_backend["ig_interpolate"] == "triton"
            torch.testing.assert_close(got, reference_ig_interpolate(x, b, a))
            g = torch.randn((4 * shape[0],) + shape[1:], dtype=dt); acc = torch.randn(shape, dtype=torch.float64)
            got = ig_weighted_sum(g, a, shape[0], acc.clone())
            assert backends.last_backend["ig_weighted_sum"] == "triton"
            assert torch.equal(got, reference_ig_weighted_sum(g, a, shape[0], acc.clone()))
        print("ok")
        """
    )
    assert "ok" in out


def test_weighted_sum_checks_shapes_before_the_kernel() -> None:
    from fastxai.ops.ig_path import ig_weighted_sum

    acc = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="S\\*N"):
        ig_weighted_sum(torch.randn(3, 3), torch.ones(2), 2, acc)  # 3 rows, 2 steps x 2 needed
    with pytest.raises(ValueError, match="S\\*N"):
        ig_weighted_sum(torch.randn(4, 5), torch.ones(2), 2, acc)
