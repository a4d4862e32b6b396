"""Receptive-field geometry: where a perturbation changes a feature map, and the fixed-size
patch that covers it.

A feature map of a node has spatial size ``S`` (r dims). For perturbation p its *changed
region* is the box ``[lo[p], hi[p])`` (exclusive ``hi``, per dim); a box with ``hi <= lo`` in
some dim is empty (the perturbation leaves the map unchanged). Every position outside the box
equals the unperturbed ("cached") map. The *patch* of a node is one box size ``h`` for all
perturbations (the largest changed extent) placed at ``off[p]`` (the changed box's start,
clamped so the patch lies inside the map): recomputing a patch that is larger than the changed
box is still exact, because the extra positions just reproduce cached values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def _floor_div(a: Tensor, b: int) -> Tensor:
    return torch.div(a, b, rounding_mode="floor")


@dataclass
class Regions:
    """Changed boxes of P perturbations on one map: ``lo``, ``hi`` (P, r) int64, map size ``S``."""

    lo: Tensor
    hi: Tensor
    size: Tuple[int, ...]

    @staticmethod
    def boxes(lo: Tensor, hi: Tensor, size: Sequence[int]) -> "Regions":
        """Boxes clipped to the map; empty boxes normalised to lo = hi = 0."""
        s = torch.tensor(list(size), dtype=torch.long, device=lo.device)
        lo, hi = lo.clamp(min=0), torch.minimum(hi, s)
        empty = (hi <= lo).any(dim=1, keepdim=True)
        return Regions(lo.masked_fill(empty, 0), hi.masked_fill(empty, 0), tuple(size))

    @property
    def n(self) -> int:
        return self.lo.shape[0]

    def extent(self) -> Tensor:
        """(P, r) changed extent per dim (0 for an empty box)."""
        return (self.hi - self.lo).clamp(min=0)

    def volume(self) -> Tensor:
        """(P,) changed positions per perturbation."""
        return self.extent().prod(dim=1)

    def union(self, other: "Regions") -> "Regions":
        """Bounding box of both (an empty box does not widen the other)."""
        if other.size != self.size:
            raise ValueError(f"cannot unite regions of maps {self.size} and {other.size}")
        a_empty = (self.volume() == 0).unsqueeze(1)
        b_empty = (other.volume() == 0).unsqueeze(1)
        lo = torch.minimum(
            torch.where(a_empty, other.lo, self.lo), torch.where(b_empty, self.lo, other.lo)
        )
        hi = torch.maximum(
            torch.where(a_empty, other.hi, self.hi), torch.where(b_empty, self.hi, other.hi)
        )
        return Regions.boxes(lo, hi, self.size)

    def cap(self, tau: float) -> "Regions":
        """Krypton's projective-field threshold: each extent is cut to at most ceil(tau * S_d)
        around the box's centre (an approximation: cut-off changes are dropped)."""
        s = torch.tensor(list(self.size), dtype=torch.long, device=self.lo.device)
        limit = torch.ceil(s.double() * tau).long().clamp(min=1)
        ext = self.extent()
        cut = torch.minimum(ext, limit)
        lo = self.lo + _floor_div(ext - cut, 2)
        return Regions.boxes(lo, lo + cut, self.size)


@dataclass(frozen=True)
class Sliding:
    """One spatial dim of a sliding-window op (conv / pool): kernel k, stride s, left
    padding pad, dilation d; input size n_in, output size n_out. Output o reads inputs
    o*s - pad + j*d for j < k."""

    k: int
    s: int
    pad: int
    d: int
    n_in: int
    n_out: int

    @property
    def span(self) -> int:
        """Input positions between an output's first and last tap, inclusive."""
        return self.d * (self.k - 1) + 1

    def padded_size(self) -> int:
        """Length of the input padded on both sides so every output's taps are inside."""
        return max(self.n_in + self.pad, (self.n_out - 1) * self.s + self.span)

    def input_extent(self, h_out: int) -> int:
        """Input positions a run of ``h_out`` consecutive outputs reads."""
        return (h_out - 1) * self.s + self.span


def slide(reg: Regions, dims: Sequence[Sliding]) -> Regions:
    """Changed box of a sliding op's output from its input's changed box: the outputs whose
    tap span reaches into the box (the exact bounding box for undilated ops; dilated taps
    may skip a box narrower than the dilation, and then the box is merely covering)."""
    lo_cols, hi_cols = [], []
    for i, g in enumerate(dims):
        lo = -_floor_div(-(reg.lo[:, i] + g.pad - (g.span - 1)), g.s)  # ceil division
        hi = _floor_div(reg.hi[:, i] - 1 + g.pad, g.s) + 1
        lo_cols.append(lo)
        hi_cols.append(hi)
    lo, hi = torch.stack(lo_cols, 1), torch.stack(hi_cols, 1)
    empty = (reg.volume() == 0).unsqueeze(1)
    return Regions.boxes(lo.masked_fill(empty, 0), hi.masked_fill(empty, 0), tuple(g.n_out for g in dims))


@dataclass
class Patch:
    """One patch size ``h`` (r,) and per-perturbation offsets ``off`` (P, r) on a map of size S."""

    h: Tuple[int, ...]
    off: Tensor
    size: Tuple[int, ...]

    @staticmethod
    def covering(reg: Regions) -> "Patch":
        """The smallest fixed-size patch covering every perturbation's changed box."""
        ext = reg.extent()
        h = ext.max(dim=0).values.clamp(min=1).tolist() if reg.n else [1] * len(reg.size)
        h = tuple(min(int(a), b) for a, b in zip(h, reg.size))
        top = torch.tensor([b - a for a, b in zip(h, reg.size)], dtype=torch.long, device=reg.lo.device)
        off = torch.minimum(reg.lo.clamp(min=0), top)
        return Patch(h, off, reg.size)

    @property
    def volume(self) -> int:
        v = 1
        for a in self.h:
            v *= a
        return v

    def same_as(self, other: "Patch") -> bool:
        return self.h == other.h and self.size == other.size and bool(torch.equal(self.off, other.off))


def _strides(size: Sequence[int]) -> list:
    out, acc = [], 1
    for a in reversed(list(size)):
        out.append(acc)
        acc *= a
    return list(reversed(out))


def gather_index(
    start: Tensor,
    extent: Sequence[int],
    src_size: Sequence[int],
    n_examples: int,
    prev: Optional[Tuple[Tensor, Sequence[int], int]] = None,
) -> Tensor:
    """Row indices that read, for k perturbations, a box of ``extent`` at ``start`` (k, r)
    from a map stored as rows.

    The source holds ``n_examples`` cached maps of size ``src_size`` as rows
    (n * prod(src_size) + flat position), optionally followed from row ``n_cached`` by the
    producer's patches: ``prev = (prev_off (k, r) in the same coordinates, prev_h, n_cached)``,
    patch rows ordered (perturbation j, example n, flat patch position). Positions inside a
    perturbation's patch read the patch, others the cached map.

    Returns:
        (k * N * prod(extent),) int64, ordered (perturbation, example, box position).
    """
    k, r = start.shape
    dev = start.device
    coords = []
    for d in range(r):
        c = start[:, d].view(k, 1) + torch.arange(extent[d], device=dev).view(1, -1)
        coords.append(c.view((k,) + (1,) * d + (extent[d],) + (1,) * (r - d - 1)))
    cached = sum(c * s for c, s in zip(coords, _strides(src_size)))
    per_ex = torch.full_like(cached, _prod(src_size))
    if prev is not None:
        poff, ph, n_cached = prev
        inside = torch.ones_like(cached, dtype=torch.bool)
        rel = torch.zeros_like(cached)
        for d, (c, s) in enumerate(zip(coords, _strides(ph))):
            o = poff[:, d].view((k,) + (1,) * r)
            inside = inside & (c >= o) & (c < o + ph[d])
            rel = rel + (c - o) * s
        pv = _prod(ph)
        slot = torch.arange(k, device=dev).view((k,) + (1,) * r) * (n_examples * pv)
        cached = torch.where(inside, rel + slot + n_cached, cached)
        per_ex = torch.where(inside, torch.full_like(per_ex, pv), per_ex)
    ex = torch.arange(n_examples, device=dev).view((1, n_examples) + (1,) * r)
    return (cached.unsqueeze(1) + ex * per_ex.unsqueeze(1)).reshape(-1)


def _prod(xs: Sequence[int]) -> int:
    v = 1
    for a in xs:
        v *= int(a)
    return v
