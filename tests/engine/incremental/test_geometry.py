"""Receptive-field geometry against brute force: which outputs read a changed input box."""
import itertools

import pytest
import torch

from fastxai.engine.incremental.geometry import Patch, Regions, Sliding, gather_index, slide


def _brute_box(a: int, b: int, g: Sliding) -> tuple:
    """Bounding box of outputs o with a tap o*s - pad + j*d in [a, b)."""
    hit = [o for o in range(g.n_out) if any(a <= o * g.s - g.pad + j * g.d < b for j in range(g.k))]
    return (min(hit), max(hit) + 1) if hit else (0, 0)


def _out_size(n: int, k: int, s: int, pad: int, d: int, ceil: bool) -> int:
    span = d * (k - 1) + 1
    num = n + 2 * pad - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + pad:
        out -= 1
    return out


@pytest.mark.parametrize("k,s,pad,d,ceil", [
    (3, 1, 1, 1, False), (5, 2, 2, 1, False), (3, 2, 1, 1, True), (1, 2, 0, 1, False),
    (3, 1, 2, 2, False), (3, 3, 0, 2, False), (2, 2, 0, 1, True), (7, 2, 3, 1, False),
    (4, 3, 1, 3, True),
])
def test_slide_matches_brute_force(k: int, s: int, pad: int, d: int, ceil: bool) -> None:
    n = 17
    g = Sliding(k, s, pad, d, n, _out_size(n, k, s, pad, d, ceil))
    boxes = [(a, b) for a in range(n) for b in range(a + 1, n + 1)]
    lo = torch.tensor([[a] for a, _ in boxes])
    hi = torch.tensor([[b] for _, b in boxes])
    out = slide(Regions.boxes(lo, hi, (n,)), [g])
    for i, (a, b) in enumerate(boxes):
        got, want = (int(out.lo[i, 0]), int(out.hi[i, 0])), _brute_box(a, b, g)
        if d == 1:  # contiguous taps: the box is exact
            assert got == want, (a, b)
        elif want != (0, 0):  # dilated taps may skip a narrow box: a covering box is exact enough
            assert got[0] <= want[0] and got[1] >= want[1], (a, b)


def test_empty_boxes_stay_empty_and_union_ignores_them() -> None:
    g = Sliding(1, 2, 0, 1, 8, 4)
    reg = slide(Regions.boxes(torch.tensor([[3]]), torch.tensor([[4]]), (8,)), [g])
    assert int(reg.volume()[0]) == 0  # a 1x1 stride-2 conv never reads odd rows
    other = Regions.boxes(torch.tensor([[1]]), torch.tensor([[3]]), (4,))
    u = reg.union(other)
    assert (u.lo.tolist(), u.hi.tolist()) == ([[1]], [[3]])


def test_patch_covers_every_box_inside_the_map() -> None:
    lo = torch.tensor([[0, 5], [3, 9], [6, 0]])
    hi = torch.tensor([[2, 9], [7, 10], [10, 3]])
    reg = Regions.boxes(lo, hi, (10, 10))
    patch = Patch.covering(reg)
    assert patch.h == (4, 4)
    top = torch.tensor([10 - 4, 10 - 4])
    assert bool(((patch.off >= 0) & (patch.off <= top)).all())
    assert bool(((patch.off <= reg.lo) & (patch.off + torch.tensor(patch.h) >= reg.hi)).all())


def test_cap_keeps_the_centre() -> None:
    reg = Regions.boxes(torch.tensor([[2, 0]]), torch.tensor([[12, 3]]), (20, 20))
    capped = reg.cap(0.25)  # at most ceil(5) per dim
    assert capped.lo.tolist() == [[4, 0]] and capped.hi.tolist() == [[9, 3]]


def test_gather_index_reads_cached_map_and_patches() -> None:
    n, size, extent, ph = 2, (5, 6), (3, 4), (2, 2)
    start = torch.tensor([[0, 0], [2, 1], [1, 2]])
    poff = torch.tensor([[1, 1], [3, 3], [0, 0]])
    n_cached = n * 30
    idx = gather_index(start, extent, size, n, (poff, ph, n_cached))
    want = []
    for j in range(3):
        for e in range(n):
            for a, b in itertools.product(range(extent[0]), range(extent[1])):
                y, x = int(start[j, 0]) + a, int(start[j, 1]) + b
                py, px = y - int(poff[j, 0]), x - int(poff[j, 1])
                if 0 <= py < ph[0] and 0 <= px < ph[1]:
                    want.append(n_cached + (j * n + e) * 4 + py * 2 + px)
                else:
                    want.append(e * 30 + y * 6 + x)
    assert idx.tolist() == want
