"""Small rules shared by the perturbation methods' reductions."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from fastxai._captum.errors import InputError


def output_dtype(initial: Tensor) -> torch.dtype:
    """Attributions take the model output's dtype (Captum's rule); integer outputs -> float."""
    return initial.dtype if initial.is_floating_point() else torch.get_default_dtype()


def difference_dtype(initial: Tensor) -> torch.dtype:
    """dtype of ``f(x) - f(perturbed x)`` attributions (FeatureAblation, FeaturePermutation).

    Captum keeps the output's dtype here, integers included (an int64 model or a forward
    returning a Python int gives int64 attributions), so a drop-in must too. Only bool
    outputs, which cannot be subtracted, fall back to the default float dtype.
    """
    if initial.is_floating_point() or initial.is_complex():
        return initial.dtype
    return torch.get_default_dtype() if initial.dtype == torch.bool else initial.dtype


def check_masks_match_output(n: int, initial: Tensor, masks: Tuple[Tensor, ...]) -> None:
    """Per-example feature masks (first dim N > 1) need per-example outputs.

    When the forward aggregates over the batch (its output's dim 0 is not N), there is no
    example to read a per-example mask against; Captum fails there with a shape error deep
    in its accumulation, fastxai says why up front (an ``InputError``, hence AssertionError).
    """
    per_example = [i for i, m in enumerate(masks) if m.dim() > 0 and m.shape[0] > 1]
    aggregated = initial.dim() == 0 or initial.shape[0] != n
    if per_example and aggregated:
        raise InputError(
            f"feature_mask[{per_example[0]}] holds per-example ids (first dim "
            f"{masks[per_example[0]].shape[0]}) but forward_func returns an output of shape "
            f"{tuple(initial.shape)} that is not per example (batch of {n}); give the "
            "mask a first dim of 1"
        )
