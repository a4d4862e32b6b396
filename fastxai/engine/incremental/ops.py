"""Ops that can be recomputed on a patch, and how each maps a changed box forward.

Patches are stored as *rows*: a (B, *h, C) contiguous tensor (channels last), B = k·N rows
(perturbation-major). ``as_nchw`` views them as (B, C, *h) without a copy (channels-last
strides, which oneDNN's convolutions and pools take natively); ``to_rows`` goes back.

Three kinds of local op:

* :class:`WindowOp` (convolution, max / average pooling): output position o reads input
  positions o·s − pad + j·d. Its input patch is gathered from the input's cached map, padded
  with the op's pad value (0 for convolutions, −inf for max pooling), overlaid with the
  producer's patch; the op then runs with padding 0.
* :class:`Elementwise` (BatchNorm in eval mode, activations, residual add / mul / ..., with
  constants that do not vary over space): the output box is the union of the inputs' boxes.
* :class:`Concat` along channels (DenseNet): the union again.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, fx

from fastxai.engine.incremental.geometry import Patch, Regions, Sliding, slide


def as_nchw(rows: Tensor) -> Tensor:
    """(B, *h, C) rows -> (B, C, *h) view."""
    r = rows.dim() - 2
    return rows.permute(0, r + 1, *range(1, r + 1))


def to_rows(t: Tensor) -> Tensor:
    """(B, C, *h) -> (B, *h, C) contiguous (no copy when ``t`` is channels-last already)."""
    r = t.dim() - 2
    return t.permute(0, *range(2, r + 2), 1).contiguous()


class Edge:
    """How a local op reads one dynamic input for a given output patch: ``direct`` (the
    producer's patch is exactly the box needed) or a gather of ``extent`` at ``start`` (P, r)
    in the input's padded coordinates (``pad_lo`` before, the map padded to ``padded`` with
    ``pad_value``)."""

    def __init__(self, producer: fx.Node, direct: bool, start: Optional[Tensor] = None,
                 extent: Sequence[int] = (), pad_lo: Sequence[int] = (), padded: Sequence[int] = (),
                 pad_value: float = 0.0) -> None:
        self.producer, self.direct, self.start = producer, direct, start
        self.extent, self.pad_lo, self.padded = tuple(extent), tuple(pad_lo), tuple(padded)
        self.pad_value = pad_value

    @property
    def source_key(self) -> tuple:
        """Edges with equal keys share one padded cached source."""
        return (self.producer, self.pad_lo, self.padded, self.pad_value)


def region_edge(producer: fx.Node, in_patch: Patch, out_patch: Patch) -> Edge:
    """Read the output patch's box of an input of the same spatial size (no padding)."""
    if in_patch.same_as(out_patch):
        return Edge(producer, True)
    r = len(out_patch.h)
    return Edge(producer, False, out_patch.off, out_patch.h, (0,) * r, out_patch.size)


class LocalOp:
    """A node recomputable on patches. ``producers``: its dynamic input nodes, in order."""

    producers: List[fx.Node]
    flops_per_position: float = 0.0  # per output spatial position, per example

    def regions(self, ins: List[Regions]) -> Regions:
        raise NotImplementedError

    def edges(self, out: Patch, ins: List[Patch]) -> List[Edge]:
        raise NotImplementedError

    def run(self, ins: List[Tensor], statics: Dict[fx.Node, Any], ctx: "PatchContext") -> Tensor:
        """``ins``: per producer, the input patch as rows; returns the output patch as rows."""
        raise NotImplementedError


class PatchContext:
    """What an op may need about the current chunk: perturbations [p0, p1), N examples."""

    def __init__(self, p0: int, p1: int, n_examples: int, out_patch: Patch) -> None:
        self.p0, self.p1, self.n, self.out_patch = p0, p1, n_examples, out_patch


def _union(ins: List[Regions]) -> Regions:
    out = ins[0]
    for r in ins[1:]:
        out = out.union(r)
    return out


class WindowOp(LocalOp):
    """Convolution / pooling with per-dim geometry ``dims``; ``fn`` runs it with padding 0 on
    an explicitly padded (B, C, *extent) patch; ``divisor`` (1, 1, *S_out) divides the
    window sums of an average pool whose divisor varies over the map (else None)."""

    def __init__(self, producer: fx.Node, dims: List[Sliding], fn: Callable[[Tensor], Tensor],
                 pad_value: float, flops_per_position: float, divisor: Optional[Tensor] = None) -> None:
        self.producers = [producer]
        self.dims, self.fn, self.pad_value = dims, fn, pad_value
        self.flops_per_position = flops_per_position
        self.divisor = divisor

    def regions(self, ins: List[Regions]) -> Regions:
        return slide(ins[0], self.dims)

    def edges(self, out: Patch, ins: List[Patch]) -> List[Edge]:
        stride = torch.tensor([g.s for g in self.dims], dtype=torch.long, device=out.off.device)
        return [Edge(self.producers[0], False, out.off * stride,
                     [g.input_extent(h) for g, h in zip(self.dims, out.h)],
                     [g.pad for g in self.dims], [g.padded_size() for g in self.dims], self.pad_value)]

    def run(self, ins: List[Tensor], statics: Dict[fx.Node, Any], ctx: PatchContext) -> Tensor:
        y = self.fn(as_nchw(ins[0]))
        if self.divisor is not None:
            y = y / _gather_map(self.divisor, ctx)
        return to_rows(y)


def _gather_map(m: Tensor, ctx: PatchContext) -> Tensor:
    """A per-position (1, 1, *S) map read at the chunk's output patches -> (B, 1, *h)."""
    from fastxai.engine.incremental.geometry import gather_index

    patch = ctx.out_patch
    idx = gather_index(patch.off[ctx.p0 : ctx.p1], patch.h, patch.size, 1)
    vals = m.reshape(-1).index_select(0, idx).view((ctx.p1 - ctx.p0, 1, 1) + tuple(patch.h))
    return vals.expand((ctx.p1 - ctx.p0, ctx.n, 1) + tuple(patch.h)).reshape((-1, 1) + tuple(patch.h))


class Elementwise(LocalOp):
    """An op whose output at a position depends only on its inputs there (and the channel):
    runs the node's own target on the patches (statics substituted, spatially constant)."""

    def __init__(self, node: fx.Node, producers: List[fx.Node], call: Callable[..., Any],
                 flops_per_position: float) -> None:
        self.node, self.producers, self.call = node, producers, call
        self.flops_per_position = flops_per_position

    def regions(self, ins: List[Regions]) -> Regions:
        return _union(ins)

    def edges(self, out: Patch, ins: List[Patch]) -> List[Edge]:
        return [region_edge(p, i, out) for p, i in zip(self.producers, ins)]

    def run(self, ins: List[Tensor], statics: Dict[fx.Node, Any], ctx: PatchContext) -> Tensor:
        views = {p: as_nchw(x) for p, x in zip(self.producers, ins)}
        args = fx.node.map_arg(self.node.args, lambda n: views[n] if n in views else statics[n])
        kwargs = fx.node.map_arg(self.node.kwargs, lambda n: views[n] if n in views else statics[n])
        return to_rows(self.call(*args, **kwargs))


class Concat(LocalOp):
    """torch.cat of dynamic maps along the channel dim."""

    def __init__(self, producers: List[fx.Node], flops_per_position: float = 0.0) -> None:
        self.producers = producers
        self.flops_per_position = flops_per_position

    def regions(self, ins: List[Regions]) -> Regions:
        return _union(ins)

    def edges(self, out: Patch, ins: List[Patch]) -> List[Edge]:
        return [region_edge(p, i, out) for p, i in zip(self.producers, ins)]

    def run(self, ins: List[Tensor], statics: Dict[fx.Node, Any], ctx: PatchContext) -> Tensor:
        return torch.cat(ins, dim=-1)


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def conv_fn(module: torch.nn.Module, r: int) -> Callable[[Tensor], Tensor]:
    """The module's convolution with padding 0 (weights read at call time)."""
    conv = _CONV[r]
    return lambda x: conv(x, module.weight, module.bias, module.stride, 0, module.dilation, module.groups)


def max_pool_fn(k: Sequence[int], s: Sequence[int], d: Sequence[int], r: int) -> Callable[[Tensor], Tensor]:
    pool = _MAX[r]
    return lambda x: pool(x, tuple(k), tuple(s), 0, tuple(d))


def avg_pool_fn(k: Sequence[int], s: Sequence[int], r: int, divisor: Optional[int]) -> Callable[[Tensor], Tensor]:
    """Average pool with padding 0 dividing by ``divisor`` (None: the window size)."""
    if r == 1:  # avg_pool1d has no divisor_override: run it as a 2D pool over (1, L)
        def pool1(x: Tensor) -> Tensor:
            y = F.avg_pool2d(x.unsqueeze(2), (1, k[0]), (1, s[0]), 0, False, True, divisor)
            return y.squeeze(2)

        return pool1
    pool = F.avg_pool2d if r == 2 else F.avg_pool3d
    return lambda x: pool(x, tuple(k), tuple(s), 0, False, True, divisor)
