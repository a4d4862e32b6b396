"""Philox uniforms: the torch reference equals Triton's own tl.rand, and every backend is bit-identical."""
import pytest
import torch

from fastxai import _ext, backends, use_backend
from fastxai.ops.philox import _GRID_ROW_FILL_MIN, philox_uniform, philox_uniform_grid, reference_philox_uniform
from tests.triton_interp import run_interpreted


def test_reference_is_uniform_and_keyed() -> None:
    u = reference_philox_uniform(7, torch.arange(20000))
    assert u.dtype == torch.float32
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01
    # every counter word and the seed change the draw
    base = reference_philox_uniform(7, torch.arange(64), 1, 2, 3)
    for other in (
        reference_philox_uniform(8, torch.arange(64), 1, 2, 3),
        reference_philox_uniform(7, torch.arange(64), 0, 2, 3),
        reference_philox_uniform(7, torch.arange(64), 1, 0, 3),
        reference_philox_uniform(7, torch.arange(64), 1, 2, 0),
    ):
        assert not torch.equal(base, other)


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("n,offset", [(1, 0), (1000, 5), (70001, 2**31 + 3)])
def test_cpp_bit_identical(n: int, offset: int) -> None:
    with use_backend("cpp"):
        got = philox_uniform(2**40 + 11, n, offset, 3, 4, 5)
    ref = reference_philox_uniform(2**40 + 11, torch.arange(offset, offset + n), 3, 4, 5)
    assert torch.equal(got, ref)


def test_triton_interpreter_matches_tl_rand_and_reference() -> None:
    out = run_interpreted(
        """
        import torch, triton, triton.language as tl
        from fastxai.ops.philox import philox_uniform, reference_philox_uniform

        @triton.jit
        def k(X, N, BLOCK: tl.constexpr):
            o = tl.arange(0, BLOCK)
            tl.store(X + o, tl.rand(123456789, o), mask=o < N)

        x = torch.zeros(100); k[(1,)](x, 100, BLOCK=128)
        assert torch.equal(x, reference_philox_uniform(123456789, torch.arange(100))), "tl.rand"
        got = philox_uniform(99, 3001, 7, 3, 2, 1)
        assert torch.equal(got, reference_philox_uniform(99, torch.arange(7, 3008), 3, 2, 1)), "fill"
        print("OK")
        """
    )
    assert "OK" in out


def _reference_grid(seed, f, n, s, stream, sample0):
    el = torch.arange(f).reshape(1, 1, -1)
    ss = torch.arange(sample0, sample0 + s).reshape(1, -1, 1)
    e = torch.arange(n).reshape(-1, 1, 1)
    return reference_philox_uniform(seed, el, ss, e, stream)


@pytest.mark.skipif(not _ext.HAS_CPP, reason="compiled module not built")
@pytest.mark.parametrize("f", [_GRID_ROW_FILL_MIN, 3 * 17 * 5])
@pytest.mark.parametrize("seed", [0, 2**40 + 7])
def test_grid_row_fill_equals_the_reference(f: int, seed: int) -> None:
    with use_backend("cpp"):
        got = philox_uniform_grid(seed, f, 3, 4, stream=17, sample0=5)
    assert backends.last_backend.get("philox_uniform") == "cpp"
    assert got.shape == (3, 4, f) and got.dtype == torch.float32
    assert torch.equal(got, _reference_grid(seed, f, 3, 4, 17, 5))


def test_grid_small_rows_and_the_torch_backend_use_the_reference() -> None:
    with use_backend("torch"):
        got = philox_uniform_grid(3, 200, 2, 3, stream=16)
    assert torch.equal(got, _reference_grid(3, 200, 2, 3, 16, 0))
    got = philox_uniform_grid(3, _GRID_ROW_FILL_MIN - 1, 2, 3, stream=16)
    assert torch.equal(got, _reference_grid(3, _GRID_ROW_FILL_MIN - 1, 2, 3, 16, 0))
    assert philox_uniform_grid(3, 100, 0, 3, 16).shape == (0, 3, 100)
