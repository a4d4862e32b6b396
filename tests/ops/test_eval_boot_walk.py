"""C++ bootstrap walk vs its torch reference: ties / no ties, weights, indices vs counts, and the
validation of every index the kernel follows."""
from __future__ import annotations

import pytest
import torch

from fastxai import _ext, use_backend
from fastxai.ops.eval_boot_walk import WalkRows, boot_walk, reference_boot_walk, walk_rows

pytestmark = pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")


def _walk_order(codes_o: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Rows sorted by (overall code, score), stable (the overall AUROC plan's order)."""
    by_score = torch.sort(score, stable=True).indices
    return by_score[torch.sort(codes_o[by_score], stable=True).indices]


@pytest.mark.parametrize("auroc", [True, False])
def test_boot_walk_matches_torch_reference(auroc) -> None:
    """One C++ walk (groups + overall codes, sort once) == group_sums / confusion / auroc in torch."""

    g = torch.Generator().manual_seed(2)
    n, G = 3000, 6
    y = torch.rand(n, generator=g) < 0.3
    score = torch.round(torch.rand(n, generator=g) * 50) / 50  # many ties
    yhat = score >= 0.5
    codes = torch.randint(0, G, (n,), generator=g)
    codes[codes == 5] = 4  # an empty group
    y[codes == 3] = False  # a one-class group
    codes_o = codes // 3  # two "control" levels
    sw = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    counts = torch.randint(0, 3, (5, n), generator=g)
    order = _walk_order(codes_o, score.double()) if auroc else None
    rows = walk_rows(y, yhat, sw, score.double(), codes, G, codes_o, 2, order)
    with use_backend("cpp"):
        got_g, got_o = boot_walk(rows, counts)
    ref_g, ref_o = reference_boot_walk(y, yhat, sw, score.double(), codes, G, codes_o, 2, counts, auroc)
    for got, ref in ((got_g, ref_g), (got_o, ref_o)):
        assert set(got) == set(ref)
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-12, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("unit", [True, False])
def test_boot_walk_no_tie_path_matches_reference(unit) -> None:
    """Distinct scores take the lighter no-tie walk; unit weights skip the multiply."""

    g = torch.Generator().manual_seed(4)
    n, G = 2000, 4
    y = torch.rand(n, generator=g) < 0.4
    score = torch.randperm(n, generator=g).double() / n  # no ties
    yhat = score >= 0.5
    codes = torch.randint(0, G, (n,), generator=g)
    codes_o = torch.zeros(n, dtype=torch.int64)
    sw = torch.ones(n, dtype=torch.float64) if unit else torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    counts = torch.randint(0, 4, (3, n), generator=g)
    rows = walk_rows(y, yhat, sw, score, codes, G, codes_o, 1, _walk_order(codes_o, score))
    assert not rows.ties and rows.unit_weights == unit
    with use_backend("cpp"):
        got_g, got_o = boot_walk(rows, counts)
    ref_g, ref_o = reference_boot_walk(y, yhat, sw, score, codes, G, codes_o, 1, counts, True)
    for got, ref in ((got_g, ref_g), (got_o, ref_o)):
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-12, atol=1e-9, equal_nan=True)



def test_boot_walk_from_indices_equals_counts() -> None:
    """Drawn row indices counted in the kernel == their bincount passed as multiplicities."""

    g = torch.Generator().manual_seed(8)
    n, G = 1500, 3
    y = torch.rand(n, generator=g) < 0.5
    score = torch.round(torch.rand(n, generator=g, dtype=torch.float64) * 30) / 30
    codes = torch.randint(0, G, (n,), generator=g)
    codes_o = torch.zeros(n, dtype=torch.int64)
    idx = torch.randint(0, n, (4, n), generator=g)
    counts = torch.stack([torch.bincount(r, minlength=n) for r in idx])
    for sc in (score, torch.randperm(n, generator=g).double()):  # ties path and no-tie path
        rows = walk_rows(y, sc >= 0.5, torch.ones(n, dtype=torch.float64), sc, codes, G, codes_o, 1,
                         _walk_order(codes_o, sc))
        with use_backend("cpp"):
            a_g, a_o = boot_walk(rows, idx, indices=True)
            b_g, b_o = boot_walk(rows, counts)
        for a, b in ((a_g, b_g), (a_o, b_o)):
            for k in b:
                assert torch.equal(a[k].nan_to_num(-1), b[k].nan_to_num(-1))


def _rows(n: int = 50, G: int = 3):
    g = torch.Generator().manual_seed(1)
    y = torch.rand(n, generator=g) < 0.5
    score = torch.rand(n, generator=g, dtype=torch.float64)
    codes = torch.randint(0, G, (n,), generator=g)
    codes_o = torch.zeros(n, dtype=torch.int64)
    return y, score, codes, codes_o


def test_walk_rows_validates_every_index_the_kernel_follows() -> None:
    """Codes outside [0, G), a non-permutation order, labels outside {0, 1} and bad multiplicities
    are refused before the kernel runs (no read or write outside its buffers)."""
    y, score, codes, codes_o = _rows()
    n = y.numel()
    ones = torch.ones(n, dtype=torch.float64)
    with pytest.raises(ValueError, match="code_g"):
        walk_rows(y, y, ones, score, codes + 5, 3, codes_o, 1, _walk_order(codes_o, score))
    with pytest.raises(ValueError, match="code_o"):
        walk_rows(y, y, ones, score, codes, 3, codes_o - 1, 1, _walk_order(codes_o, score))
    bad_order = _walk_order(codes_o, score).clone()
    bad_order[0] = bad_order[1]
    with pytest.raises(ValueError, match="permutation"):
        walk_rows(y, y, ones, score, codes, 3, codes_o, 1, bad_order)
    with pytest.raises(ValueError, match="permutation"):
        walk_rows(y, y, ones, score, codes, 3, codes_o, 1, torch.arange(n) + n)
    rows = walk_rows(y, y, ones, score, codes, 3, codes_o, 1, _walk_order(codes_o, score))
    with pytest.raises(ValueError, match="0/1"):
        WalkRows(rows.order, rows.code_g, rows.code_o, rows.y * 3, rows.yhat, rows.sw, rows.score, 3, 1, True)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        boot_walk(rows, torch.ones(2, n - 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiplicities"):
        boot_walk(rows, -torch.ones(2, n, dtype=torch.int64))
    with pytest.raises(ValueError, match="indices"):
        boot_walk(rows, torch.full((2, n), n, dtype=torch.int64), indices=True)
    with pytest.raises(TypeError, match="WalkRows"):
        boot_walk(object(), torch.ones(2, n, dtype=torch.int64))  # type: ignore[arg-type]
