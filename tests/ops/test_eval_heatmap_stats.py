"""C++ fused heat-map reductions vs the torch reference on odd shapes and ties."""
from __future__ import annotations

import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.eval_heatmap_stats import heatmap_stats, reference_heatmap_stats

pytestmark = pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")


@pytest.mark.parametrize("n,p", [(1, 1), (1, 7), (5, 33), (17, 401), (0, 5), (3, 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_parity(n, p, dtype) -> None:
    g = torch.Generator().manual_seed(n * 1000 + p)
    h = torch.randint(-3, 4, (n, p), generator=g).to(dtype) * 0.25  # many ties, negatives
    m = torch.rand(n, p, generator=g) > 0.6
    if n > 1 and p > 0:
        h[0] = 0.0  # all-zero map
    with use_backend("cpp"):
        got = heatmap_stats(h, m)
    torch.testing.assert_close(got, reference_heatmap_stats(h, m), rtol=1e-12, atol=1e-12)


def test_non_contiguous_and_nonfinite_count() -> None:
    h = torch.randn(20, 6).T  # non-contiguous (6, 20)
    m = torch.rand(6, 20) > 0.5
    h = h.clone()
    h[2, 3] = float("inf")
    with use_backend("cpp"):
        got = heatmap_stats(h, m)
    assert got[2, 8] == 1 and got[:, 8].sum() == 1
    ok = [0, 1, 3, 4, 5]
    # C++ sums 64-value blocks in float32 (relative error ~1e-7 of the sum of |h|)
    torch.testing.assert_close(got[ok], reference_heatmap_stats(h[ok], m[ok]), rtol=1e-6, atol=1e-5)


def test_first_argmax_and_any_tie_hit() -> None:
    h = torch.tensor([[0.0, 2.0, 1.0, 2.0]])
    m = torch.tensor([[False, False, False, True]])
    with use_backend("cpp"):
        got = heatmap_stats(h, m)
    assert got[0, 1] == 1 and got[0, 2] == 1


def test_triton_interpreter_matches_reference() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend, backends
        from fastxai.ops.eval_heatmap_stats import heatmap_stats, reference_heatmap_stats
        for n, p in [(1, 1), (3, 37), (4, 1500), (2, 2048)]:
            for dtype in (torch.float32, torch.float64):
                g = torch.Generator().manual_seed(n + p)
                h = torch.randint(-3, 4, (n, p), generator=g).to(dtype) * 0.5
                m = torch.rand(n, p, generator=g) > 0.5
                h[0, -1] = 10.0  # max in the last block
                with use_backend("triton"):
                    got = heatmap_stats(h, m)
                assert backends.last_backend["eval_heatmap_stats"] == "triton"
                torch.testing.assert_close(got, reference_heatmap_stats(h, m), rtol=1e-12, atol=1e-9)
        print("OK")
        """
    )
    assert "OK" in out


@pytest.mark.parametrize("n,p", [(1, 1), (4, 37), (9, 500), (0, 5), (3, 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_topk_hits_parity(n, p, dtype) -> None:
    from fastxai.ops.eval_topk_hits import reference_topk_hits, topk_hits

    g = torch.Generator().manual_seed(7 * n + p)
    h = (torch.randint(-2, 3, (n, p), generator=g).to(dtype) * 0.5)  # heavy ties
    m = torch.rand(n, p, generator=g) > 0.5
    ks = sorted({k for k in (0, 1, p // 3, p // 2, p) if k <= p})
    with use_backend("cpp"):
        got = topk_hits(h, m, ks)
    assert torch.equal(got, reference_topk_hits(h, m, ks))


def test_topk_hits_tie_rule_lowest_index_first() -> None:
    from fastxai.ops.eval_topk_hits import topk_hits

    h = torch.tensor([[1.0, 0.5, 0.5, 0.5, 0.0]])
    m = torch.tensor([[False, False, True, True, False]])
    with use_backend("cpp"):
        assert topk_hits(h, m, [2, 3, 4]).tolist() == [[0, 1, 2]]


@pytest.mark.parametrize("simd", [True, False])
def test_cpp_sums_are_float64_accurate(simd) -> None:
    """Every value is widened before it is added: error <= 1e-12 of Σ|h| (float32 partial sums give ~1e-7)."""
    g = torch.Generator().manual_seed(11)
    h = torch.randn(6, 224 * 224 + 17, generator=g) * 1e3
    m = torch.rand(6, 224 * 224 + 17, generator=g) > 0.8
    for sign in ("signed", "abs"):
        with use_backend("cpp"):
            got = heatmap_stats(h, m, sign, simd=simd)
        ref = reference_heatmap_stats(h, m, sign)
        bound = 1e-12 * h.abs().sum(1, dtype=torch.float64)[:, None]
        assert bool(((got - ref).abs() <= bound).all())
        assert torch.equal(got[:, [0, 1, 2, 7, 8]], ref[:, [0, 1, 2, 7, 8]])


@pytest.mark.parametrize("n,p", [(1, 1), (5, 41), (7, 300)])
def test_topk_hits_per_row_parity(n, p) -> None:
    from fastxai.ops.eval_topk_hits import reference_topk_hits_per_row, topk_hits_per_row

    g = torch.Generator().manual_seed(n + 3 * p)
    h = torch.randint(-2, 3, (n, p), generator=g).float()
    m = torch.rand(n, p, generator=g) > 0.6
    k = m.sum(1)
    k[0] = 0
    with use_backend("cpp"):
        got = topk_hits_per_row(h, m, k)
    assert torch.equal(got, reference_topk_hits_per_row(h, m, k))


@pytest.mark.parametrize("n,p", [(1, 2), (6, 37), (4, 2000)])
def test_heatmap_auroc_parity_and_sklearn(n, p) -> None:
    from sklearn.metrics import roc_auc_score

    from fastxai.ops.eval_heatmap_auroc import heatmap_auroc_op, reference_heatmap_auroc

    g = torch.Generator().manual_seed(n * p)
    h = torch.randn(n, p, generator=g)
    h[0, : p // 2] = torch.round(h[0, : p // 2])  # ties
    if n > 1:
        h[1] = -0.0
        h[1, ::2] = 0.0  # -0.0 and +0.0 tie
    if n > 2:
        h[2] = h[2] * 1e30  # large / negative keys
    m = torch.rand(n, p, generator=g) > 0.5
    m[0, 0], m[0, 1] = True, False
    if n > 3:
        m[3] = True  # no negatives -> NaN
    with use_backend("cpp"):
        got = heatmap_auroc_op(h, m)
    ref = reference_heatmap_auroc(h, m)
    torch.testing.assert_close(got, ref, equal_nan=True, rtol=1e-12, atol=1e-12)
    for i in range(n):
        if 0 < int(m[i].sum()) < p:
            assert float(got[i]) == pytest.approx(roc_auc_score(m[i].numpy(), h[i].numpy()), abs=1e-12)


@pytest.mark.parametrize("sign", ["signed", "abs", "positive"])
@pytest.mark.parametrize("simd", [True, False])
@pytest.mark.parametrize("n,p", [(3, 63), (4, 64 * 16 + 5), (2, 224 * 224)])
def test_sign_fused_and_simd_paths_match_reference(sign, simd, n, p) -> None:
    """The AVX-512 row path (when the CPU has it), the portable loop and the fused sign rule."""
    g = torch.Generator().manual_seed(p + n)
    h = torch.randint(-4, 5, (n, p), generator=g).float() * 0.5  # ties, negatives: sums exact
    h[0, -1] = 9.0  # the maximum in the tail / last group
    if n > 2:
        h[2, 5] = -20.0  # |h| maximum from a negative value
    m = torch.rand(n, p, generator=g) > 0.7
    with use_backend("cpp"):
        got = heatmap_stats(h, m, sign, simd=simd)
    torch.testing.assert_close(got, reference_heatmap_stats(h, m, sign), rtol=0, atol=0)


@pytest.mark.parametrize("simd", [True, False])
@pytest.mark.parametrize("sign", ["signed", "positive"])
def test_nonfinite_count_is_of_raw_values(simd, sign) -> None:
    h = torch.randn(3, 3000)
    h[1, 2999] = float("-inf")  # hidden by the positive part, still counted
    h[2, 17] = float("nan")
    h[2, 1024] = float("inf")
    m = torch.rand(3, 3000) > 0.5
    with use_backend("cpp"):
        got = heatmap_stats(h, m, sign, simd=simd)
    assert got[:, 8].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("case", ["random", "ties", "unsampled_peaks", "constant"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_topk_hits_sample_filter_path_and_fallback(case, dtype) -> None:
    """Rows long enough for the sample + filter selection (P > 4096, k < P/4), incl. rows built so
    that the strided sample misses the top values (the kernel must fall back to the full row)."""
    from fastxai.ops.eval_topk_hits import reference_topk_hits, reference_topk_hits_per_row, topk_hits, topk_hits_per_row

    n, p = 3, 224 * 224
    g = torch.Generator().manual_seed(5)
    if case == "random":
        h = torch.randn(n, p, generator=g)
    elif case == "ties":
        h = torch.randint(0, 6, (n, p), generator=g).float()
    elif case == "unsampled_peaks":
        h = torch.zeros(n, p)
        h[:, 1::2] = torch.rand(n, p // 2, generator=g) + 1.0  # sample positions (multiples of 98) stay 0
    else:
        h = torch.ones(n, p)
    h = h.to(dtype)
    m = torch.rand(n, p, generator=g) > 0.6
    ks = [1, 100, 1000, 5000, p // 3]
    with use_backend("cpp"):
        got = topk_hits(h, m, ks)
        kr = m.sum(1) // 8
        got_row = topk_hits_per_row(h, m, kr)
    assert torch.equal(got, reference_topk_hits(h, m, ks))
    assert torch.equal(got_row, reference_topk_hits_per_row(h, m, kr))


def test_mask_counts_matches_reference() -> None:
    from fastxai.ops.eval_topk_hits import mask_counts, reference_mask_counts

    m = torch.rand(5, 1001) > 0.3
    with use_backend("cpp"):
        assert torch.equal(mask_counts(m), reference_mask_counts(m))
        assert torch.equal(mask_counts(m[:, ::2]), reference_mask_counts(m[:, ::2]))  # non-contiguous
        assert torch.equal(mask_counts(m[:0]), reference_mask_counts(m[:0]))


@pytest.mark.parametrize("spatial", [(37, 53), (224, 224), (5, 9, 11)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("simd", [True, False])
def test_heatmap_stats_boxes_equals_rasterised_mask(spatial, dtype, simd) -> None:
    """Boxes tested by coordinates in the kernel == the kernel on boxes_to_mask (several, clipped,
    zero-area and border boxes), and the torch reference of the ranges."""
    from fastxai.eval.boxes import box_ranges, boxes_to_mask
    from fastxai.ops.eval_heatmap_stats import heatmap_stats_boxes, reference_heatmap_stats_boxes

    g = torch.Generator().manual_seed(sum(spatial))
    n = 6
    nd = len(spatial)
    ext = torch.tensor(list(reversed(spatial)), dtype=torch.float64)
    lo = torch.rand(n, 3, nd, generator=g, dtype=torch.float64) * ext
    hi = lo + torch.rand(n, 3, nd, generator=g, dtype=torch.float64) * ext * 0.7  # may cross the border
    boxes = torch.cat([lo, hi], -1)
    boxes[0, 1] = 0.0  # zero-area padding row
    boxes[1, 0, :nd] = 0.0
    boxes[1, 0, nd:] = ext  # full image
    p = 1
    for s_ in spatial:
        p *= s_
    h = (torch.randint(-3, 4, (n, p), generator=g).to(dtype) * 0.5)
    mask = boxes_to_mask(boxes, spatial).reshape(n, p)
    ranges = box_ranges(boxes, spatial)
    for sign in ("signed", "abs"):
        with use_backend("cpp"):
            got = heatmap_stats_boxes(h, ranges, spatial, sign, simd=simd)
            want = heatmap_stats(h, mask, sign, simd=simd)
        assert torch.equal(got, want)
        torch.testing.assert_close(got, reference_heatmap_stats_boxes(h, ranges, spatial, sign), rtol=0, atol=0)


def test_localisation_boxes_path_equals_masks_path() -> None:
    import warnings

    import fastxai.eval as fe

    g = torch.Generator().manual_seed(9)
    a = torch.randn(8, 3, 40, 48, generator=g)
    boxes = [torch.tensor([[2.3, 4.0, 20.7, 30.2]]), torch.tensor([[0.0, 0.0, 48.0, 40.0], [5, 5, 9, 9]]),
             torch.zeros(0, 4), torch.tensor([[47.2, 39.1, 60.0, 50.0]])] * 2
    mask = fe.boxes_to_mask(boxes, (40, 48))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn, kw in [(fe.pointing_game, {}), (fe.pointing_game, {"variant": "saporta"}),
                       (fe.pointing_game, {"variant": "torchray"}), (fe.relevance_mass_accuracy, {}),
                       (fe.energy_pointing_game, {}), (fe.attribution_localisation, {})]:
            torch.testing.assert_close(fn(a, boxes, **kw), fn(a, masks=mask, **kw), equal_nan=True, rtol=0, atol=0)


def test_triton_interpreter_sign_rule_matches_reference() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend
        from fastxai.ops.eval_heatmap_stats import heatmap_stats, reference_heatmap_stats
        g = torch.Generator().manual_seed(1)
        h = torch.randint(-3, 4, (3, 300), generator=g).float() * 0.5
        h[1, 7] = float("-inf")
        m = torch.rand(3, 300, generator=g) > 0.5
        for sign in ("abs", "positive"):
            with use_backend("triton"):
                got = heatmap_stats(h, m, sign)
            ref = reference_heatmap_stats(h, m, sign)
            assert got[:, 8].tolist() == [0.0, 1.0, 0.0]
            torch.testing.assert_close(got[[0, 2]], ref[[0, 2]], rtol=1e-12, atol=1e-9)
        print("OK")
        """
    )
    assert "OK" in out


# --------------------------------------------------------------------------- extreme magnitudes


def _extreme_maps(dtype: torch.dtype) -> torch.Tensor:
    """Finite maps near the dtype's maximum (all positive, mixed signs, one huge value among tiny
    ones) and near its smallest subnormal."""
    big, tiny = torch.finfo(dtype).max, torch.finfo(dtype).smallest_normal * torch.finfo(dtype).eps
    g = torch.Generator().manual_seed(5)
    p = 3 * 1024 + 77  # several 1,024-pixel groups and a ragged tail
    u = torch.rand(5, p, generator=g, dtype=torch.float64)
    h = torch.empty(5, p, dtype=torch.float64)
    h[0] = big * (0.5 + 0.5 * u[0])
    h[1] = big * (u[1] - 0.5) * 2
    h[2] = u[2]
    h[2, 100] = big
    h[3] = tiny * torch.round(u[3] * 8)
    h[4] = -big * u[4]
    return h.to(dtype)


def _exact_sums(h: torch.Tensor, m: torch.Tensor, sign: str) -> torch.Tensor:
    """Σh, Σh⁺, Σh·m, Σh⁺·m per row with math.fsum (correctly rounded), over sign(h)."""
    import math

    v = h.double()
    v = v.abs() if sign == "abs" else (v.clamp(min=0) if sign == "positive" else v)
    rows = []
    for r in range(v.shape[0]):
        x, mm = v[r].tolist(), m[r].tolist()
        rows.append([math.fsum(x), math.fsum(max(a, 0.0) for a in x),
                     math.fsum(a for a, k in zip(x, mm) if k), math.fsum(max(a, 0.0) for a, k in zip(x, mm) if k)])
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("dtype,backend", [(torch.float32, "cpp-simd"), (torch.float32, "cpp"),
                                           (torch.float32, "torch"), (torch.float16, "torch")])
def test_extreme_magnitudes_give_finite_accurate_sums(dtype, backend) -> None:
    """Finite float16/32 maps near the dtype's maximum: finite sums within 1e-12 of the exact ones on
    every CPU backend (the C++ kernels used to sum float32 blocks and return NaN here)."""
    if backend == "cpp-simd" and not _ext.cpp().eval_heatmap_stats_has_simd():
        pytest.skip("no AVX-512 on this CPU: the SIMD row path is not run here")
    h = _extreme_maps(dtype)
    m = torch.rand(h.shape, generator=torch.Generator().manual_seed(2)) > 0.5
    for sign in ("signed", "abs", "positive"):
        with use_backend("torch" if backend == "torch" else "cpp"):
            got = heatmap_stats(h, m, sign, simd=backend == "cpp-simd")
        want = _exact_sums(h, m, sign)
        sums = got[:, [3, 4, 5, 6]]
        assert bool(torch.isfinite(sums).all())
        scale = h.double().abs().sum(1, keepdim=True)
        assert bool(((sums - want).abs() <= 1e-12 * scale).all()), (sign, (sums - want).abs().max())
        assert got[:, 8].tolist() == [0.0] * h.shape[0]


def test_extreme_magnitudes_boxes_path() -> None:
    from fastxai.ops.eval_heatmap_stats import heatmap_stats_boxes, ranges_to_mask

    h = _extreme_maps(torch.float32)[:, :3072]  # (5, 48 * 64)
    ranges = torch.tensor([[[0, 1, 3, 40, 5, 60]]] * 5)
    m = ranges_to_mask(ranges, (48, 64))
    with use_backend("cpp"):
        got = heatmap_stats_boxes(h, ranges, (48, 64), "signed", simd=False)
    want = _exact_sums(h, m, "signed")
    assert bool(((got[:, [3, 4, 5, 6]] - want).abs() <= 1e-12 * h.double().abs().sum(1, keepdim=True)).all())


def test_triton_interpreter_extreme_magnitudes() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend
        from fastxai.ops.eval_heatmap_stats import heatmap_stats, reference_heatmap_stats
        big = torch.finfo(torch.float32).max
        g = torch.Generator().manual_seed(1)
        h = torch.cat([big * (0.5 + 0.5 * torch.rand(1, 2100, generator=g)),
                       big * (torch.rand(1, 2100, generator=g) - 0.5)]).float()
        m = torch.rand(2, 2100, generator=g) > 0.5
        for sign in ("signed", "abs"):
            with use_backend("triton"):
                got = heatmap_stats(h, m, sign)
            ref = reference_heatmap_stats(h, m, sign)
            assert bool(torch.isfinite(got).all()), got
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
        print("OK")
        """
    )
    assert "OK" in out


def test_box_ranges_are_validated_before_any_kernel() -> None:
    from fastxai.ops.eval_heatmap_stats import heatmap_stats_boxes
    from fastxai.ops.eval_overlap_thresholds import overlap_thresholds_boxes

    h = torch.rand(2, 6 * 7)
    good = torch.tensor([[[0, 1, 1, 3, 2, 5]], [[0, 1, 0, 6, 0, 7]]])
    for bad, match in ((good + torch.tensor([0, 0, 0, 0, 0, 1]), "lie in"),  # x1 = 8 > W = 7
                       (good - 1, "lie in"), (good[:1], r"\(N, B, 6\)"), (good[..., :4], r"\(N, B, 6\)"),
                       (good.double(), "integer")):
        with use_backend("cpp"), pytest.raises(ValueError, match=match):
            heatmap_stats_boxes(h, bad, (6, 7))
        with use_backend("cpp"), pytest.raises(ValueError, match=match):
            overlap_thresholds_boxes(h, bad, (6, 7), [0.5])
    with use_backend("cpp"):
        heatmap_stats_boxes(h, good, (6, 7))


def test_topk_hits_per_row_validates_k() -> None:
    from fastxai.ops.eval_topk_hits import topk_hits_per_row

    h, m = torch.rand(3, 50), torch.rand(3, 50) > 0.5
    for k in (torch.tensor([1, 2]), torch.tensor([[1, 2, 3]]), torch.tensor([1.0, 2.0, 3.0])):
        with use_backend("cpp"), pytest.raises(ValueError, match="k must be"):
            topk_hits_per_row(h, m, k)
