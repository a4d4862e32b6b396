"""Captum 0.9 ``feature_mask`` handling: ids are global across input tensors."""
from __future__ import annotations

import warnings
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError


def format_feature_mask(
    feature_mask: Union[None, Tensor, Tuple[Tensor, ...]],
    inputs: Tuple[Tensor, ...],
    name: str = "feature_mask",
) -> Tuple[Tensor, ...]:
    """One integer mask per input, each of full rank with first dim 1 or N.

    ``None`` gives every scalar its own id, numbered across tensors (Captum's default).
    """
    if feature_mask is None:
        masks, offset = [], 0
        for x in inputs:
            # Shaped like x[0:1] (Captum's default): an empty tensor gets an empty mask,
            # i.e. no features, instead of a reshape error.
            first = x[0:1] if x.dim() > 0 else x.reshape(1)
            masks.append(
                (torch.arange(first.numel(), device=x.device) + offset).reshape(first.shape)
            )
            offset += first.numel()
        return tuple(masks)
    tup = feature_mask if isinstance(feature_mask, tuple) else (feature_mask,)
    if len(tup) != len(inputs):
        raise InputError(
            f"{name} must have one mask per input tensor: got {len(tup)} masks for {len(inputs)} inputs"
        )
    out = []
    for i, (m, x) in enumerate(zip(tup, inputs)):
        if not isinstance(m, Tensor):
            raise InputError(f"{name}[{i}] must be an integer tensor, got {type(m).__name__}")
        if m.is_floating_point() or m.is_complex():
            raise InputError(f"{name}[{i}] must hold integer feature ids, got dtype {m.dtype}")
        try:
            full = torch.broadcast_shapes(tuple(m.shape), tuple(x.shape))
        except RuntimeError:
            full = None
        if full != tuple(x.shape):
            raise InputError(
                f"{name}[{i}] of shape {tuple(m.shape)} does not broadcast to input {i} of shape "
                f"{tuple(x.shape)}; use the input's shape, with 1 for shared dims "
                f"(e.g. {(1,) + tuple(x.shape[1:])})"
            )
        m = m.reshape((1,) * (x.dim() - m.dim()) + tuple(m.shape)).to(x.device)
        out.append(m.long())
    return tuple(out)


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
