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


def test_cpp_block_sums_precision_bound() -> None:
    g = torch.Generator().manual_seed(11)
    h = torch.randn(6, 224 * 224, generator=g) * 1e3
    m = torch.rand(6, 224 * 224, generator=g) > 0.8
    with use_backend("cpp"):
        got = heatmap_stats(h, m)
    ref = reference_heatmap_stats(h, m)
    bound = 1e-6 * h.abs().sum(1, dtype=torch.float64)[:, None]
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
