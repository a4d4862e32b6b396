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
    torch.testing.assert_close(got[ok], reference_heatmap_stats(h[ok], m[ok]))


def test_first_argmax_and_any_tie_hit() -> None:
    h = torch.tensor([[0.0, 2.0, 1.0, 2.0]])
    m = torch.tensor([[False, False, False, True]])
    with use_backend("cpp"):
        got = heatmap_stats(h, m)
    assert got[0, 1] == 1 and got[0, 2] == 1
