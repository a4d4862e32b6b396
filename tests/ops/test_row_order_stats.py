"""row_order_stats (C++ selection) vs its torch reference (full sort)."""
import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.row_order_stats import reference_row_order_stats, row_order_stats


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("m", [1, 2, 17, 40, 64, 65, 100])
def test_matches_sort_reference_incl_ties_and_edge_ranks(m) -> None:
    g = torch.Generator().manual_seed(m)
    vals = torch.randn(300, m, generator=g)
    vals[::3] = vals[::3].round()  # heavy ties in every third row
    rank = torch.randint(0, m, (300,), generator=g)
    rank[:2] = torch.tensor([0, m - 1])  # lowest and highest rank (the pair's top clamps)
    with use_backend("cpp"):
        got = row_order_stats(vals, rank)
    want = reference_row_order_stats(vals, rank)
    assert torch.equal(got, want)
    # the reference itself on one row
    row = sorted(vals[5].tolist())
    assert want[5].tolist() == [row[rank[5]], row[min(int(rank[5]) + 1, m - 1)]]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="rank"):
        row_order_stats(torch.randn(4, 3), torch.tensor([0, 1, 2]))
    if _ext.HAS_CPP:
        with use_backend("cpp"), pytest.raises(ValueError, match=r"rank must lie in \[0, 3\)"):
            row_order_stats(torch.randn(2, 3), torch.tensor([0, 3]))


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_rank_out_of_range_raises_on_every_backend(backend) -> None:
    from fastxai import use_backend
    from fastxai.ops.row_order_stats import row_order_stats

    vals = torch.randn(3, 4)
    with use_backend(backend):
        for bad in ([0, 4, 1], [0, -1, 1]):
            with pytest.raises(ValueError, match="rank must lie"):
                row_order_stats(vals, torch.tensor(bad))
