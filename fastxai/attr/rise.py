"""RISE (Petsiuk et al., 2018): randomised input sampling for explanation.

N random low-resolution binary grids are upsampled (multilinear, random sub-cell shift) into
smooth masks; the saliency of each pixel is Σ_p score_p · mask_p / (N · p_keep). Masks are
generated on the device from a seed in chunks (:mod:`fastxai.ops.rise_masks`).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr._perturbation_common import output_dtype
from fastxai.engine.ordered import ordered_add
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.targets import TargetType
from fastxai.ops.rise_masks import rise_masks


def spatial_dims(x: Tensor) -> Tuple[int, ...]:
    """Spatial shape of an input: (N, F) -> (F,); (N, C, *S) -> S."""
    return tuple(x.shape[1:]) if x.dim() == 2 else tuple(x.shape[2:])


class RisePlan:
    """Perturbation p multiplies every example by mask p: x·m + baseline·(1 − m)."""

    def __init__(self, seed: int, n_masks: int, grid: Sequence[int], p_keep: float,
                 baseline: Tensor, spatial: Tuple[int, ...], channel_dim: bool) -> None:
        self.seed, self.grid, self.p_keep = seed, list(grid), p_keep
        self.baseline, self.spatial, self.channel_dim = baseline, spatial, channel_dim
        self.n_perturbations = n_masks
        self.last_masks: Optional[Tensor] = None  # masks of the last build, from last_p0
        self.last_p0 = 0

    def masks(self, p0: int, p1: int, device: torch.device) -> Tensor:
        """(K, *S) float32 masks p0..p1-1."""
        return rise_masks(self.seed, p0, p1, self.spatial, self.grid, self.p_keep, device)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        x = inputs[0]
        m = self.masks(p0, p1, x.device)
        self.last_masks, self.last_p0 = m, p0
        mk = m.unsqueeze(1)  # (K, 1, *S): broadcast over examples
        if self.channel_dim:
            mk = mk.unsqueeze(2)  # (K, 1, 1, *S): shared by channels
        mk = mk.to(x.dtype)
        out = x.unsqueeze(0) * mk + self.baseline.unsqueeze(0) * (1 - mk)
        return (out.reshape((-1,) + tuple(x.shape[1:])),)


class RiseAccumulator:
    """saliency (O, ΠS) += Σ_p scores[p]ᵀ · masks[p], on the device, in float64, one mask
    at a time in mask order (:func:`~fastxai.engine.ordered.ordered_add`): the sum does not
    depend on how the engine chunked the masks (a GEMM per chunk would)."""

    def __init__(self, plan: RisePlan, n_out: int, device: torch.device) -> None:
        self.plan = plan
        numel = 1
        for s in plan.spatial:
            numel *= s
        self.sal = torch.zeros((n_out, numel), dtype=torch.float64, device=device)

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        m = self.plan.last_masks
        assert m is not None
        # the engine may have built more perturbations than this chunk (a prebuilt call)
        q = self.plan.last_p0
        m = m[p0 - q : p1 - q]
        ordered_add(self.sal, outputs, m.reshape(p1 - p0, -1))


class RISE(PerturbationAttribution):
    """``RISE(forward_func).attribute(inputs, target, n_masks=4000, grid_size=7, p_keep=0.5, seed=...)``.

    Works on images (N, C, H, W), volumes (N, C, D, H, W) and tabular rows (N, F).
    Returns saliency of the input's shape (shared across channels).
    """

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        n_masks: int = 4000,
        grid_size: Union[int, Sequence[int]] = 7,
        p_keep: float = 0.5,
        seed: Optional[int] = None,
        baselines: BaselineType = None,
        additional_forward_args: Any = None,
        show_progress: bool = False,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """RISE saliency.

        Args:
            inputs: (N, C, *S) with 1-3 spatial dims, or (N, F); one tensor (or a 1-tuple).
            target: Captum target forms, or (N, K) for K targets.
            n_masks: number of masks P (> 0).
            grid_size: cells per spatial dim of the low-res grid (int or per dim).
            p_keep: probability a cell is kept, in (0, 1].
            seed: counter-based seed; None draws one from torch's global RNG.
            baselines: what masked-out pixels become (default 0, as in the paper).
        Returns:
            saliency of the input's shape ((N, K, ...) for K targets), in the output dtype.
        """
        if not isinstance(n_masks, int) or n_masks <= 0:
            raise InputError(f"n_masks must be a positive integer, got {n_masks!r}")
        if not (0.0 < float(p_keep) <= 1.0):
            raise InputError(f"p_keep must lie in (0, 1], got {p_keep!r}")
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress, desc="RISE",
        )
        if len(call.inputs) != 1:
            raise InputError("RISE takes one input tensor (images, volumes or tabular rows)")
        x = call.inputs[0]
        if x.dim() < 2 or x.dim() > 5:
            raise InputError(f"inputs must be (N, F), (N, C, L), (N, C, H, W) or (N, C, D, H, W); got {tuple(x.shape)}")
        spatial = spatial_dims(x)
        grid = [grid_size] * len(spatial) if isinstance(grid_size, int) else list(grid_size)
        if len(grid) != len(spatial) or any(g < 1 or g > s for g, s in zip(grid, spatial)):
            raise InputError(f"grid_size {grid_size!r} must give 1..size cells for each spatial dim {spatial}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        initial = initial_for(self.forward_func, call)
        plan = RisePlan(seed, n_masks, grid, float(p_keep), call.baselines[0], spatial, x.dim() > 2)
        acc = RiseAccumulator(plan, initial.numel(), x.device)
        run_call(self.forward_func, call, plan, acc, initial)
        sal = (acc.sal / (n_masks * float(p_keep))).to(output_dtype(initial))
        o = initial.numel()
        sal = sal.reshape((o,) + (1,) * (x.dim() - 1 - len(spatial)) + spatial)
        return format_result(call, (sal.expand((o,) + tuple(x.shape[1:])),))
