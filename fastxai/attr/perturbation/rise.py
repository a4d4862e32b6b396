"""RISE (Petsiuk et al., 2018): randomised input sampling for explanation.

N random low-resolution binary grids are upsampled (multilinear, random sub-cell shift) into
smooth masks; the saliency of each pixel is Σ_p score_p · mask_p / (N · p_keep). Masks are
generated on the device from a seed in chunks (:class:`~fastxai.engine.plans.MaskPlan`, over
:mod:`fastxai.ops.rise_masks`) and handed with their rows to a
:class:`~fastxai.engine.reducers.MaskWeightedSum`.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.plans import MaskPlan
from fastxai.engine.reducers import MaskWeightedSum, output_dtype
from fastxai.engine.targets import TargetType


def spatial_dims(x: Tensor) -> Tuple[int, ...]:
    """Spatial shape of an input: (N, F) -> (F,); (N, C, *S) -> S."""
    return tuple(x.shape[1:]) if x.dim() == 2 else tuple(x.shape[2:])


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
        plan = MaskPlan(seed, n_masks, grid, float(p_keep), call.baselines[0], spatial, x.dim() > 2)
        weighted = MaskWeightedSum(initial.numel(), math.prod(spatial), x.device)
        run_call(self.forward_func, call, plan, weighted, initial)
        sal = (weighted.sums / (n_masks * float(p_keep))).to(output_dtype(initial))
        o = initial.numel()
        sal = sal.reshape((o,) + (1,) * (x.dim() - 1 - len(spatial)) + spatial)
        return format_result(call, (sal.expand((o,) + tuple(x.shape[1:])),))
