"""Plans: which perturbed rows to build, as reusable engine parts.

A plan has ``n_perturbations`` (P) and ``build(inputs, p0, p1)``, which returns the model
inputs of perturbations ``[p0, p1)``, each ((p1 - p0)·N, *S), perturbation-major (row
``(p - p0)·N + n`` is example n under perturbation p), or a :class:`Built` holding those rows
and per-perturbation data for the reducer (RISE's masks). A plan must accept any range: the
engine may build all P at once and slice (see ``PREBUILD_BYTES``).

* :class:`AblationPlan` -- feature ``ids[p]`` set to its baseline (FeatureAblation)
* :class:`OcclusionPlan` / :class:`WindowGrid` -- one sliding window per perturbation (Occlusion)
* :class:`PermutationPlan` -- feature ``ids[p]`` shuffled across the batch (FeaturePermutation)
* :class:`MaskPlan` -- RISE's smooth random masks
* :class:`CoalitionPlan` -- input where a coalition has the feature on, else baseline (Shapley,
  Lime, KernelShap)
* :class:`ListPlan` -- rows given up front (LimeBase's user-made samples)
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from fastxai.engine.perturb import Built
from fastxai.ops.ablate import _blend_coalitions, ablate_by_id, occlude_boxes
from fastxai.ops.rise_masks import rise_masks

CoalitionFn = Callable[[int, int], Tensor]


class AblationPlan:
    """Perturbation p ablates feature ``ids[p]`` in every input tensor that holds it."""

    def __init__(self, baselines: Tuple[Tensor, ...], masks: Tuple[Tensor, ...], ids: Tensor) -> None:
        self.baselines = baselines
        self.masks = masks
        self.ids = ids
        self.n_perturbations = int(ids.numel())

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        chunk = self.ids[p0:p1]
        return tuple(
            ablate_by_id(x.to(b.dtype), b, m, chunk) for x, b, m in zip(inputs, self.baselines, self.masks)
        )


class WindowGrid:
    """The windows of one input tensor: shape S, window w, stride s (per non-batch dim).

    Windows along dim d start at j·s_d for j < ceil((S_d - w_d) / s_d) + 1 and are clipped
    to the tensor. Window number f enumerates positions with dim 0 varying fastest (Captum's order).
    """

    def __init__(self, shape: Sequence[int], window: Sequence[int], stride: Sequence[int]) -> None:
        self.shape, self.window, self.stride = list(shape), list(window), list(stride)
        self.counts = [
            math.ceil((size - w) / s) + 1 for size, w, s in zip(shape, window, stride)
        ]
        self.n_windows = math.prod(self.counts)

    def starts(self, f: Tensor) -> Tensor:
        """(K,) window numbers -> (K, r) start coordinates."""
        if not self.counts:  # r = 0 (inputs of shape (N,)): one window, the whole scalar
            return torch.zeros((f.shape[0], 0), dtype=torch.long, device=f.device)
        cols = []
        rest = f.clone()
        for count, s in zip(self.counts, self.stride):
            cols.append((rest % count) * s)
            rest = rest // count
        return torch.stack(cols, dim=1)

    def covering(self, d: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        """Along dim d, the first and last window covering each element: (S_d,) each."""
        x = torch.arange(self.shape[d], device=device)
        s, w = self.stride[d], self.window[d]
        first = torch.div(x - w + s, s, rounding_mode="floor").clamp(min=0)  # ceil((x-w+1)/s)
        last = torch.div(x, s, rounding_mode="floor").clamp(max=self.counts[d] - 1)
        return first, last

    def spread(self, diffs: Tensor) -> Tuple[Tensor, Tensor]:
        """(O, n_windows) output drops -> per-element sums (O, *S) and window counts (*S).

        Separable, one dim at a time: an element's sum along dim d adds its covering windows
        in window order with elementwise adds, so the result does not depend on thread count
        or device (a GEMM against 0/1 coverage matrices would)."""
        o = diffs.shape[0]
        t = diffs.reshape((o,) + tuple(reversed(self.counts)))
        t = t.permute((0,) + tuple(range(len(self.counts), 0, -1)))  # (O, c_0, ..., c_{r-1})
        weights = torch.ones((), dtype=torch.float64, device=diffs.device)
        for d in range(len(self.counts)):
            first, last = self.covering(d, diffs.device)
            span = last - first + 1
            view = [1] * t.dim()
            view[1 + d] = -1
            total = None
            for r in range(int(span.max()) if span.numel() else 0):
                j = first + r
                part = t.index_select(1 + d, j.clamp(max=self.counts[d] - 1))
                part = torch.where((j <= last).reshape(view), part, torch.zeros((), dtype=t.dtype, device=t.device))
                total = part if total is None else total + part
            t = total
            weights = weights.unsqueeze(-1) * span.to(torch.float64)
        return t, weights


class OcclusionPlan:
    """Perturbation p occludes one window of one input tensor (tensors in order)."""

    def __init__(self, grids: List[WindowGrid], baselines: Tuple[Tensor, ...],
                 device: torch.device) -> None:
        self.grids = grids
        self.baselines = baselines
        self.offsets = [0]
        for g in grids:
            self.offsets.append(self.offsets[-1] + g.n_windows)
        self.n_perturbations = self.offsets[-1]
        # Per tensor, computed once (small: P x r) rather than per chunk: whether perturbation
        # p occludes this tensor, and its window start. Windows of other tensors start past the
        # end, so they leave this tensor intact.
        f_all = torch.arange(self.n_perturbations, device=device)
        self.occludes: List[Tensor] = []
        self.starts: List[Optional[Tensor]] = []
        for i, g in enumerate(grids):
            f = f_all - self.offsets[i]
            inside = (f >= 0) & (f < g.n_windows)
            self.occludes.append(inside)
            if not g.counts:
                self.starts.append(None)
                continue
            starts = g.starts(f.clamp(min=0))
            starts[~inside] = torch.tensor(g.shape, dtype=starts.dtype, device=device)
            self.starts.append(starts)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        out = []
        for i, (x, g, b) in enumerate(zip(inputs, self.grids, self.baselines)):
            x = x.to(b.dtype)  # an integer input with a float baseline: float rows (Captum)
            starts = self.starts[i]
            if starts is None:
                # (N,) input, one window = the whole scalar: no start coordinate can point
                # outside the tensor, so pick baseline or input per perturbation directly.
                occluded = self.occludes[i][p0:p1].reshape(-1, 1)
                k = occluded.shape[0]
                rows = torch.where(occluded, b.reshape(1, -1).to(x.dtype), x.reshape(1, -1))
                out.append(rows.expand(k, x.shape[0]).reshape(k * x.shape[0]))
                continue
            out.append(occlude_boxes(x, b, starts[p0:p1], g.window))
        return tuple(out)


class PermutationPlan:
    """Perturbation p shuffles feature ``ids[p]`` along dim 0 of every tensor holding it."""

    def __init__(self, masks: Tuple[Tensor, ...], ids: Tensor, perms: Optional[List[Tensor]],
                 perm_func: Optional[Callable[[Tensor, Tensor], Tensor]]) -> None:
        self.masks, self.ids, self.perms, self.perm_func = masks, ids, perms, perm_func
        self.n_perturbations = int(ids.numel())

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        out = []
        for i, (x, m) in enumerate(zip(inputs, self.masks)):
            ids = self.ids[p0:p1].reshape((-1,) + (1,) * x.dim())
            hit = m.unsqueeze(0) == ids  # (K, 1|N, *S)
            if self.perm_func is None:
                assert self.perms is not None
                shuffled = x[self.perms[i][p0:p1]]  # (K, N, *S)
            else:
                shuffled = torch.stack([
                    self.perm_func(x, (m == int(self.ids[p])).expand_as(x)) for p in range(p0, p1)
                ])
            rows = torch.where(hit, shuffled, x.unsqueeze(0))
            out.append(rows.reshape((-1,) + tuple(x.shape[1:])))
        return tuple(out)


class MaskPlan:
    """RISE: perturbation p multiplies every example by mask p, x·m + baseline·(1 − m). The
    masks (K, *S) come with the rows (:class:`~fastxai.engine.perturb.Built`) for the reducer."""

    def __init__(self, seed: int, n_masks: int, grid: Sequence[int], p_keep: float,
                 baseline: Tensor, spatial: Tuple[int, ...], channel_dim: bool) -> None:
        self.seed, self.grid, self.p_keep = seed, list(grid), p_keep
        self.baseline, self.spatial, self.channel_dim = baseline, spatial, channel_dim
        self.n_perturbations = n_masks

    def masks(self, p0: int, p1: int, device: torch.device) -> Tensor:
        """(K, *S) float32 masks p0..p1-1."""
        return rise_masks(self.seed, p0, p1, self.spatial, self.grid, self.p_keep, device)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Built:
        x = inputs[0]
        m = self.masks(p0, p1, x.device)
        mk = m.unsqueeze(1)  # (K, 1, *S): broadcast over examples
        if self.channel_dim:
            mk = mk.unsqueeze(2)  # (K, 1, 1, *S): shared by channels
        mk = mk.to(x.dtype)
        out = x.unsqueeze(0) * mk + self.baseline.unsqueeze(0) * (1 - mk)
        return Built((out.reshape((-1,) + tuple(x.shape[1:])),), m)


class CoalitionPlan:
    """Rows for perturbation p, example n: input where feature z[p, n] is on, else baseline.

    Args:
        n_perturbations: P.
        coalitions: ``(p0, p1) -> (p1 - p0, N|1, M)`` bool (1 = shared by every example).
        masks: per input, (1|N, *S) int64 feature ids.
        baselines: per input, a tensor broadcastable to the input.
    """

    def __init__(self, n_perturbations: int, coalitions: CoalitionFn,
                 masks: Tuple[Tensor, ...], baselines: Tuple[Any, ...]) -> None:
        self.n_perturbations = n_perturbations
        self.coalitions = coalitions
        self.masks = masks
        self.baselines = baselines
        nonempty = [m for m in masks if m.numel()]
        self._id_range = (min(int(m.min()) for m in nonempty), max(int(m.max()) for m in nonempty)) \
            if nonempty else (0, -1)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        z = self.coalitions(p0, p1)
        lo, hi = self._id_range  # checked here once per chunk on the host, not per kernel call
        if lo < 0 or hi >= z.shape[-1]:
            raise ValueError(f"feature ids [{lo}, {hi}] do not index {z.shape[-1]} coalition features")
        rows = []
        for x, mask, b in zip(inputs, self.masks, self.baselines):
            dt = torch.promote_types(x.dtype, b.dtype)  # integer input, float baseline: float rows
            rows.append(_blend_coalitions(x.to(dt), b.to(dt), mask, z.to(x.device)))
        return tuple(rows)


class ListPlan:
    """Engine plan over precomputed perturbed model inputs (LimeBase's generic path)."""

    def __init__(self, samples: List[Tuple[Tensor, ...]]) -> None:
        self.samples = samples
        self.n_perturbations = len(samples)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        return tuple(torch.cat(parts, dim=0) for parts in zip(*self.samples[p0:p1]))
