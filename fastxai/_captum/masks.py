"""Captum 0.9 ``feature_mask`` handling: ids are global across input tensors."""
from __future__ import annotations

from typing import Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError


def format_feature_mask(
    feature_mask: Union[None, Tensor, Tuple[Tensor, ...]],
    inputs: Tuple[Tensor, ...],
    name: str = "feature_mask",
) -> Tuple[Tensor, ...]:
    """One integer (int64) mask per input, each of full rank with first dim 1 or N. Float
    masks holding whole numbers are accepted (as Captum does) and converted.

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
        if m.is_complex():
            raise InputError(f"{name}[{i}] must hold integer feature ids, got dtype {m.dtype}")
        if m.is_floating_point():  # Captum accepts float masks holding integer ids
            bad = ~torch.isfinite(m) | (m != m.round())
            if bool(bad.any()):
                raise InputError(
                    f"{name}[{i}] is a {m.dtype} mask with {int(bad.sum())} non-integer values "
                    f"(e.g. {m[bad].flatten()[0].item()}); feature ids must be whole numbers"
                )
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
