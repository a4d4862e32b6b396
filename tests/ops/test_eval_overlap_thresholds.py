"""Overlap counts at many thresholds: C++ and Triton (interpreter) vs the per-threshold torch reference."""
from __future__ import annotations

import pytest
import torch

from fastxai import _ext, backends, use_backend
from fastxai.ops.eval_overlap_thresholds import (
    overlap_thresholds, overlap_thresholds_boxes, reference_overlap_thresholds, reference_overlap_thresholds_boxes,
)

needs_cpp = pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")

THRESHOLDS = {
    "T1": [0.5],
    # unsorted, duplicates, values hit exactly by the normalised quarter steps, +-inf and NaN
    "T10": [0.75, 0.25, 0.5, 0.0, 1.0, 0.5, -0.25, float("inf"), float("-inf"), float("nan")],
    "T100": torch.linspace(-0.5, 1.5, 100).tolist(),
    "T200": torch.linspace(-0.5, 1.5, 200).tolist(),  # > 128: the C++ binary-search path
}


def _maps(n: int, p: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    h = torch.randint(-4, 5, (n, p), generator=g).to(dtype) * 0.25  # quarter steps: exact ties at thresholds
    if n > 1:
        h[1] = 0.5  # constant map: min-max gives NaN, nothing passes
    if n > 2:
        h[2] = torch.randn(p, generator=g).to(dtype)
        h[2, ::3] = -0.0
        h[2, 1::3] = 0.0
    if n > 3:
        h[3] = torch.rand(p, generator=g).to(dtype) * 1e-39  # denormals (float32)
    return h


def _masks(n: int, p: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 1)
    m = torch.rand(n, p, generator=g) > 0.6
    if n > 1:
        m[-1] = False  # empty annotation
    return m


def _assert_equal(got, ref) -> None:
    for a, b in zip(got, ref):
        assert a.dtype == torch.int64 and torch.equal(a.cpu(), b.cpu()), (a, b)


@needs_cpp
@pytest.mark.parametrize("n,p", [(1, 1), (4, 37), (5, 1000), (2, 64 * 64 + 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("normalise", ["minmax", "none"])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("tname", ["T1", "T10", "T100", "T200"])
def test_cpp_matches_reference(n, p, dtype, normalise, strict, tname) -> None:
    h, m = _maps(n, p, dtype, n * p), _masks(n, p, n * p)
    ts = THRESHOLDS[tname]
    with use_backend("cpp"):
        got = overlap_thresholds(h, m, ts, normalise, strict)
    assert backends.last_backend["eval_overlap_thresholds"] == "cpp"
    _assert_equal(got, reference_overlap_thresholds(h, m, ts, normalise, strict))


@needs_cpp
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpp_minmax_cut_equals_division_on_random_maps(dtype) -> None:
    """The C++ min-max path compares against per-threshold cuts, not the divided value: check it
    against the division on continuous values, thresholds that are not multiples of anything, and
    rows with an infinite value (those divide per pixel) or a NaN (nothing passes)."""
    g = torch.Generator().manual_seed(5)
    h = (torch.randn(6, 3001, generator=g) * torch.logspace(-30, 30, 6)[:, None]).to(dtype)
    h[3, 17] = float("inf")
    h[4, 5] = float("-inf")
    h[5, 9] = float("nan")
    m = torch.rand(6, 3001, generator=g) > 0.5
    ts = torch.rand(37, generator=g).tolist() + [1 / 3, 2 / 3, 0.1, 0.7]
    for strict in (True, False):
        with use_backend("cpp"):
            got = overlap_thresholds(h, m, ts, "minmax", strict)
        _assert_equal(got, reference_overlap_thresholds(h, m, ts, "minmax", strict))


@needs_cpp
def test_non_contiguous_and_half_inputs() -> None:
    g = torch.Generator().manual_seed(2)
    h = torch.randn(50, 7, generator=g).T  # (7, 50), non-contiguous
    m = (torch.rand(50, 7, generator=g) > 0.5).T
    ts = [0.1, 0.5, 0.9, 0.3]
    for normalise in ("minmax", "none"):
        with use_backend("cpp"):
            got = overlap_thresholds(h, m, ts, normalise)
        _assert_equal(got, reference_overlap_thresholds(h, m, ts, normalise))
        hh = h.contiguous().to(torch.float16)  # float16: run as exact float32, thresholds rounded to float16
        with use_backend("cpp"):
            got = overlap_thresholds(hh, m, ts, normalise)
        _assert_equal(got, reference_overlap_thresholds(hh, m, ts, normalise))


@needs_cpp
def test_float32_threshold_rounding_as_torch() -> None:
    """h > 0.3 on float32 maps compares with float32(0.3) (torch's rule): 0.3f itself does not pass."""
    h = torch.tensor([[0.3, 0.30000001, 0.29999998, 1.0]], dtype=torch.float32)
    m = torch.ones(1, 4, dtype=torch.bool)
    with use_backend("cpp"):
        pred, _, _ = overlap_thresholds(h, m, [0.3], "none")
    assert pred.item() == int((h > 0.3).sum())


@needs_cpp
@pytest.mark.parametrize("spatial", [(7, 9), (3, 5, 4)])
def test_boxes_match_rasterised_reference(spatial) -> None:
    g = torch.Generator().manual_seed(len(spatial))
    n, p = 4, int(torch.tensor(spatial).prod())
    h = torch.randint(-3, 4, (n, p), generator=g).float() * 0.5
    d, hh, w = (1, *spatial) if len(spatial) == 2 else spatial
    r = torch.tensor([[0, d, 1, 3, 2, min(6, w)], [0, 1, 0, 0, 0, 0]]).repeat(n, 1, 1)  # clipped ranges
    r[1, 1] = torch.tensor([0, d, 0, hh, w - 1, w])
    r[2] = 0  # no box: empty annotation
    ts = [0.0, 0.25, 0.5, 0.75]
    ref = reference_overlap_thresholds_boxes(h, r, spatial, ts)
    with use_backend("cpp"):
        _assert_equal(overlap_thresholds_boxes(h, r, spatial, ts), ref)
    with use_backend("torch"):
        _assert_equal(overlap_thresholds_boxes(h, r, spatial, ts), ref)


@needs_cpp
def test_empty_inputs() -> None:
    for n, p in [(0, 5), (3, 0)]:
        h, m = torch.zeros(n, p), torch.zeros(n, p, dtype=torch.bool)
        with use_backend("cpp"):
            pred, inter, msum = overlap_thresholds(h, m, [0.5, 0.2])
        assert pred.shape == (n, 2) and inter.shape == (n, 2) and msum.shape == (n,)
        assert int(pred.sum()) == 0
    with use_backend("cpp"):
        pred, _, _ = overlap_thresholds(torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool), [])
    assert pred.shape == (2, 0)


def test_triton_interpreter_matches_reference() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend, backends
        from fastxai.ops.eval_overlap_thresholds import (
            overlap_thresholds, overlap_thresholds_boxes, reference_overlap_thresholds,
            reference_overlap_thresholds_boxes)
        from tests.ops.test_eval_overlap_thresholds import THRESHOLDS, _maps, _masks

        def same(a, b):
            assert all(torch.equal(x, y) for x, y in zip(a, b)), (a, b)

        for n, p in [(1, 1), (4, 37), (2, 1500), (4, 4096)]:
            for dtype in (torch.float32, torch.float64):
                h, m = _maps(n, p, dtype, n + p), _masks(n, p, n + p)
                for normalise in ("minmax", "none"):
                    for strict in (True, False):
                        for name in (("T1", "T10", "T100") if p <= 37 else ("T10",)):
                            ts = THRESHOLDS[name]
                            with use_backend("triton"):
                                got = overlap_thresholds(h, m, ts, normalise, strict)
                            assert backends.last_backend["eval_overlap_thresholds"] == "triton"
                            same(got, reference_overlap_thresholds(h, m, ts, normalise, strict))
        # non-contiguous, an infinite value, a NaN row under min-max
        h = torch.randn(40, 5).T
        h[1, 3] = float("inf")
        h[2, 0] = float("nan")
        m = torch.rand(5, 40) > 0.5
        for normalise in ("minmax", "none"):
            with use_backend("triton"):
                got = overlap_thresholds(h, m, [0.1, 0.5, 0.9], normalise)
            same(got, reference_overlap_thresholds(h, m, [0.1, 0.5, 0.9], normalise))
        # boxes (2D and 3D)
        for spatial in [(7, 9), (3, 5, 4)]:
            d, hh, w = (1, *spatial) if len(spatial) == 2 else spatial
            p = d * hh * w
            h = torch.randint(-3, 4, (3, p)).float() * 0.5
            r = torch.tensor([[0, d, 1, 3, 2, min(6, w)], [0, 1, 0, 0, 0, 0]]).repeat(3, 1, 1)
            r[1, 1] = torch.tensor([0, d, 0, hh, w - 1, w])
            r[2] = 0
            ts = [0.0, 0.25, 0.5, 0.75]
            with use_backend("triton"):
                got = overlap_thresholds_boxes(h, r, spatial, ts)
            same(got, reference_overlap_thresholds_boxes(h, r, spatial, ts))
        print("OK")
        """
    )
    assert "OK" in out
