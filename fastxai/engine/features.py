"""Feature ids: the sorted ids of a call's masks, Captum's renumbering for an interpretable
space, and per-feature values spread back onto the inputs' elements."""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor


def feature_ids(masks: Tuple[Tensor, ...]) -> Tensor:
    """Sorted unique feature ids over all masks, shape (M,)."""
    if not masks:
        return torch.zeros(0, dtype=torch.long)
    flat = [m.flatten() for m in masks if m.numel()]
    if not flat:
        return torch.zeros(0, dtype=torch.long, device=masks[0].device)
    return torch.unique(torch.cat(flat))


def normalise_ids(masks: Tuple[Tensor, ...], warn_name: str) -> Tuple[Tuple[Tensor, ...], int]:
    """Captum's rule for methods with an interpretable space (Lime, KernelShap): if ids do not
    start at 0 or have gaps, warn, shift the lowest to 0 and use max+1 features.
    Returns (masks, M)."""
    ids = feature_ids(masks)
    if ids.numel() == 0:
        return masks, 0
    lo, hi = int(ids.min()), int(ids.max())
    if lo != 0 or hi + 1 != ids.numel():
        warnings.warn(
            f"{warn_name}: feature ids should be 0..M-1 without gaps; got min {lo}, max {hi} "
            f"with {ids.numel()} distinct ids. Shifting the minimum to 0 and using "
            f"{hi - lo + 1} features.",
            UserWarning,
            stacklevel=3,
        )
        masks = tuple(m - lo for m in masks)
        hi -= lo
    return masks, hi + 1


def scatter_feature_values(
    values: Tensor,
    masks: Tuple[Tensor, ...],
    ids: Optional[Tensor],
    n_examples: int,
    inputs: Tuple[Tensor, ...],
) -> Tuple[Tensor, ...]:
    """Broadcast per-feature values to every element of each feature.

    Args:
        values: (O, M) per output row and feature (O = N, N·K or 1).
        masks: per input, (1|N, *S) integer ids.
        ids: the sorted ids that ``values``' columns stand for (None: column j is id j).
        inputs: the (N, *S) inputs, whose shapes the results take.
    Returns:
        per input, (O, *S).
    """
    o, m = values.shape
    out = []
    for mask, x in zip(masks, inputs):
        if mask.numel() == 0 or x.numel() == 0:  # an empty (sparse) input holds no feature
            out.append(torch.zeros((o,) + tuple(x.shape[1:]), dtype=values.dtype, device=values.device))
            continue
        pos = mask if ids is None else torch.searchsorted(ids, mask.contiguous())
        pos = pos.clamp_(0, max(m - 1, 0)) if ids is not None else pos
        shape = tuple(mask.shape[1:])
        if mask.shape[0] == 1 or o == 1:
            attr = values.index_select(1, pos[0].flatten()).reshape((o,) + shape)
        else:  # per-example masks: row r belongs to example r // (O / N)
            per = o // n_examples
            idx = pos.reshape(n_examples, 1, -1).expand(n_examples, per, pos[0].numel())
            attr = torch.gather(values.reshape(n_examples, per, m), 2, idx).reshape((o,) + shape)
        out.append(attr.expand((o,) + tuple(x.shape[1:])).contiguous())
    return tuple(out)


def interpretable_ids(masks: Tuple[Tensor, ...], default: bool,
                      inputs: Tuple[Tensor, ...]) -> Tuple[Tuple[Tensor, ...], int]:
    """Captum's rule for an interpretable space (Lime, KernelShap): the default mask
    (``default``: one id per scalar, numbered across inputs) gives M = all scalars of one
    example; user ids are shifted to start at 0 (with a warning) and M = max id + 1."""
    if default:
        return masks, int(sum(x[0].numel() for x in inputs))
    return normalise_ids(masks, "feature_mask")
