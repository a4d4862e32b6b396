"""What each perturbation changes in the input: its spatial box, and the perturbed input patch.

* :class:`WindowPerturbations` (Occlusion): perturbation p sets channels ``[c0, c0 + cw)`` of
  the spatial box ``[start, start + w)`` (clipped to the map) to the baseline.
* :class:`SegmentPerturbations` (FeatureAblation): perturbation p sets every element whose
  feature id is ``ids[p]`` to the baseline; its box is the bounding box of those elements.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import Tensor

from fastxai.engine.incremental.geometry import Patch, Regions, gather_index


class InputRows:
    """The (N, C, *S) input and its baseline as rows ((N·prod(S), C), channels last)."""

    def __init__(self, x: Tensor, baseline: Tensor) -> None:
        self.n, self.c, self.size = x.shape[0], x.shape[1], tuple(x.shape[2:])
        self.x = _rows(x)
        b = baseline.to(dtype=x.dtype, device=x.device)
        self.scalar = b.numel() == 1
        self.b = b.reshape(()) if self.scalar else _rows(b.expand_as(x))

    def read(self, off: Tensor, h: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Input and baseline at the boxes (k, r) of size h: each (k, N, *h, C) (baseline may
        be a 0-d tensor)."""
        k = off.shape[0]
        idx = gather_index(off, h, self.size, self.n)
        shape = (k, self.n) + tuple(h) + (self.c,)
        xs = self.x.index_select(0, idx).view(shape)
        bs = self.b if self.scalar else self.b.index_select(0, idx).view(shape)
        return xs, bs


def _rows(t: Tensor) -> Tensor:
    r = t.dim() - 2
    return t.permute(0, *range(2, r + 2), 1).reshape(-1, t.shape[1])


def _inside(off: Tensor, h: Sequence[int], lo: Tensor, hi: Tensor) -> Tensor:
    """(k, *h) bool: patch positions inside each perturbation's box [lo, hi)."""
    k, r = off.shape
    mask = torch.ones((k,) + (1,) * r, dtype=torch.bool, device=off.device)
    for d in range(r):
        c = off[:, d].view(k, 1) + torch.arange(h[d], device=off.device).view(1, -1)
        m = (c >= lo[:, d].view(k, 1)) & (c < hi[:, d].view(k, 1))
        mask = mask & m.view((k,) + (1,) * d + (h[d],) + (1,) * (r - d - 1))
    return mask


class WindowPerturbations:
    """Occlusion windows. ``starts`` (P, 1 + r): channel start then spatial starts;
    ``window`` (1 + r,): channel extent then spatial extents; ``shape`` (C, *S)."""

    def __init__(self, starts: Tensor, window: Sequence[int], shape: Sequence[int]) -> None:
        self.starts = starts.long()
        self.window = tuple(int(w) for w in window)
        self.shape = tuple(int(s) for s in shape)
        self.n_perturbations = int(starts.shape[0])

    def regions(self) -> Regions:
        return self.regions_slice(0, self.n_perturbations)

    def build(self, src: InputRows, patch: Patch, p0: int, p1: int) -> Tensor:
        """Perturbed input patches of [p0, p1) as rows (B, *h, C), B = (p1 - p0)·N."""
        off = patch.off[p0:p1]
        k, r = off.shape
        xs, bs = src.read(off, patch.h)
        reg = self.regions_slice(p0, p1)
        space = _inside(off, patch.h, reg.lo, reg.hi)
        c = torch.arange(src.c, device=off.device).view(1, -1)
        c0 = self.starts[p0:p1, 0].view(k, 1)
        chan = (c >= c0) & (c < c0 + self.window[0])
        mask = space.view((k, 1) + tuple(patch.h) + (1,)) & chan.view((k, 1) + (1,) * r + (src.c,))
        return torch.where(mask, bs, xs).view((k * src.n,) + tuple(patch.h) + (src.c,))

    def regions_slice(self, p0: int, p1: int) -> Regions:
        lo = self.starts[p0:p1, 1:]
        hi = lo + torch.tensor(self.window[1:], dtype=torch.long, device=lo.device)
        return Regions.boxes(lo, hi, self.shape[1:])


class SegmentPerturbations:
    """Feature ablation with a feature mask ``mask`` (1|N, 1|C, *S) of integer ids and the
    ablated ids ``ids`` (P,), one per perturbation."""

    def __init__(self, mask: Tensor, ids: Tensor, shape: Sequence[int], n: int) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.mask = mask.long().expand((n,) + self.shape)
        self.ids = ids.long()
        self.n_perturbations = int(ids.numel())
        self._regions = self._boxes()
        self._mask_rows = _rows(self.mask)

    def _boxes(self) -> Regions:
        r = len(self.shape) - 1
        p = self.n_perturbations
        pos = torch.searchsorted(self.ids, self.mask.reshape(-1).contiguous()).clamp(max=max(p - 1, 0))
        hit = self.ids[pos] == self.mask.reshape(-1)
        lo_cols, hi_cols = [], []
        for d in range(r):
            size = self.shape[1 + d]
            coord = torch.arange(size, device=self.ids.device).view(
                (1, 1) + (1,) * d + (size,) + (1,) * (r - d - 1)
            ).expand_as(self.mask).reshape(-1)
            lo = torch.full((p,), size, dtype=torch.long, device=self.ids.device)
            hi = torch.zeros((p,), dtype=torch.long, device=self.ids.device)
            lo_cols.append(lo.scatter_reduce(0, pos[hit], coord[hit], "amin"))
            hi_cols.append(hi.scatter_reduce(0, pos[hit], coord[hit] + 1, "amax"))
        return Regions.boxes(torch.stack(lo_cols, 1), torch.stack(hi_cols, 1), self.shape[1:])

    def regions(self) -> Regions:
        return self._regions

    def build(self, src: InputRows, patch: Patch, p0: int, p1: int) -> Tensor:
        off = patch.off[p0:p1]
        k, r = off.shape
        xs, bs = src.read(off, patch.h)
        idx = gather_index(off, patch.h, src.size, src.n)
        ids = self._mask_rows.index_select(0, idx).view((k, src.n) + tuple(patch.h) + (src.c,))
        hit = ids == self.ids[p0:p1].view((k,) + (1,) * (r + 2))
        return torch.where(hit, bs, xs).view((k * src.n,) + tuple(patch.h) + (src.c,))
