"""Top-k hits: the Triton radix-select kernel (interpreter) and C++ vs the torch reference.

(The C++ parity tests on odd shapes and the sample/filter path are in test_eval_heatmap_stats.py.)
"""
from __future__ import annotations

import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.eval_topk_hits import (
    reference_topk_hits, reference_topk_hits_per_row, topk_hits, topk_hits_per_row,
)


def _case(kind: str, n: int, p: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "ties":
        return torch.randint(-2, 3, (n, p), generator=g).to(dtype) * 0.5
    if kind == "equal":
        return torch.full((n, p), -1.25, dtype=dtype)
    if kind == "zeros":  # -0.0 and +0.0 tie (as in the reference's comparisons)
        h = torch.randn(n, p, generator=g).to(dtype)
        h[:, ::2] = -0.0
        h[:, 1::4] = 0.0
        return h
    if kind == "wide":  # keys across the whole float range
        h = torch.randn(n, p, generator=g).to(dtype) * torch.logspace(-30, 30, p).to(dtype)
        h[:, 0] = float("inf")
        if p > 2:
            h[:, 1] = float("-inf")
        return h
    return torch.randn(n, p, generator=g).to(dtype)


def _ks(p: int):
    return sorted({0, 1, p // 3, p // 2, max(p - 1, 0), p})


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("kind", ["zeros", "wide"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpp_signed_zeros_and_wide_range(kind, dtype) -> None:
    h = _case(kind, 3, 97, dtype, 1)
    m = torch.rand(3, 97, generator=torch.Generator().manual_seed(2)) > 0.5
    with use_backend("cpp"):
        got = topk_hits(h, m, _ks(97))
        got_row = topk_hits_per_row(h, m, m.sum(1))
    assert torch.equal(got, reference_topk_hits(h, m, _ks(97)))
    assert torch.equal(got_row, reference_topk_hits_per_row(h, m, m.sum(1)))


def test_triton_interpreter_matches_reference() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend, backends
        from fastxai.ops.eval_topk_hits import (
            reference_topk_hits, reference_topk_hits_per_row, topk_hits, topk_hits_per_row)
        from tests.ops.test_eval_topk_hits import _case, _ks

        cases = [("ties", 1, 1), ("ties", 3, 37), ("equal", 2, 40), ("zeros", 2, 33), ("wide", 2, 50),
                 ("ties", 2, 1500), ("randn", 1, 4096)]
        for kind, n, p in cases:
            for dtype in (torch.float32, torch.float64):
                if p > 1500 and dtype == torch.float64:
                    continue
                h = _case(kind, n, p, dtype, n + p)
                m = torch.rand(n, p, generator=torch.Generator().manual_seed(p)) > 0.5
                ks = _ks(p) if p <= 50 else [1, p // 2, p]
                with use_backend("triton"):
                    got = topk_hits(h, m, ks)
                assert backends.last_backend["eval_topk_hits"] == "triton"
                assert torch.equal(got, reference_topk_hits(h, m, ks)), (kind, p, dtype, got)
                kr = m.sum(1)
                kr[0] = min(p, 1)
                with use_backend("triton"):
                    got = topk_hits_per_row(h, m, kr)
                assert torch.equal(got, reference_topk_hits_per_row(h, m, kr)), (kind, p, dtype, got)
        # non-contiguous maps, tie rule (lowest index first)
        h = torch.tensor([[1.0, 0.5, 0.5, 0.5, 0.0]])
        m = torch.tensor([[False, False, True, True, False]])
        with use_backend("triton"):
            assert topk_hits(h, m, [2, 3, 4]).tolist() == [[0, 1, 2]]
            ht = torch.randint(-2, 3, (30, 4)).float().T
            mt = torch.rand(4, 30) > 0.5
            assert torch.equal(topk_hits(ht, mt, [1, 7, 30]), reference_topk_hits(ht, mt, [1, 7, 30]))
        print("OK")
        """
    )
    assert "OK" in out
