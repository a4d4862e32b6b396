"""Captum's ``target`` forms, and fastxai's multi-target extension.

Captum forms (per call): None, int, tuple of ints, 0-d/1-element tensor, 1-D tensor of length
N, list[int] of length N, list[tuple] of length N. fastxai adds *several targets per example*:
a (N, K) integer tensor or a list of N lists of K ints, explained in one pass.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError, TargetError

TargetType = Union[None, int, Tuple[int, ...], Tensor, List[Any]]


def is_multi_target(target: TargetType) -> bool:
    """True for the (N, K) tensor / list-of-lists form."""
    if isinstance(target, Tensor):
        return target.dim() == 2
    return isinstance(target, list) and len(target) > 0 and isinstance(target[0], list)


def multi_target_columns(target: TargetType) -> List[Tensor]:
    """Split an (N, K) multi-target into K per-example target tensors of shape (N,)."""
    t = target if isinstance(target, Tensor) else torch.tensor(target)
    if t.dim() != 2:
        raise InputError(f"target: a multi-target must be (N, K), got shape {tuple(t.shape)}")
    return [t[:, k] for k in range(t.shape[1])]


def _check_index(output: Tensor, dim: int, idx: Tensor, what: str) -> None:
    size = output.shape[dim]
    if idx.numel() and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise TargetError(
            f"target {what} out of range: the model output has {size} entries along dim {dim} "
            f"(shape {tuple(output.shape)}), got values in [{int(idx.min())}, {int(idx.max())}]"
        )


def _select_column(output: Tensor, target: Union[int, Tuple[int, ...]]) -> Tensor:
    tgt = (target,) if isinstance(target, int) else tuple(target)
    if len(tgt) > output.dim() - 1:
        raise TargetError(
            f"target {target!r} has {len(tgt)} indices but the model output {tuple(output.shape)} "
            f"has only {output.dim() - 1} non-batch dims"
        )
    for d, t in enumerate(tgt, 1):  # plain ints: no tensor work on the hot path
        size = output.shape[d]
        if not -size <= int(t) < size:
            raise TargetError(
                f"target {target!r} out of range: the model output has {size} entries along "
                f"dim {d} (shape {tuple(output.shape)})"
            )
    return output[(slice(None), *tgt)]


def select_targets(output: Tensor, target: TargetType) -> Tensor:
    """Captum's ``_select_targets`` with range checks. ``output`` is (N, ...)."""
    if target is None:
        return output
    n = output.shape[0] if output.dim() > 0 else 1
    if isinstance(target, (int, tuple)):
        return _select_column(output, target)
    if isinstance(target, Tensor):
        if target.numel() == 1 and not target.is_floating_point():
            return _select_column(output, int(target.item()))
        if target.dim() == 1 and target.numel() == n:
            if output.dim() != 2:
                raise InputError("target: output must be 2D (N, K) to select a tensor of targets")
            _check_index(output, 1, target, "tensor")
            return torch.gather(output, 1, target.reshape(n, 1).to(output.device))
        raise TargetError(
            f"target tensor has shape {tuple(target.shape)}; expected a single index or one per "
            f"example ({n},)"
        )
    if isinstance(target, list):
        if len(target) != n:
            raise TargetError(
                f"target list has length {len(target)} but the batch has {n} examples"
            )
        if isinstance(target[0], int):
            if output.dim() != 2:
                raise InputError("target: output must be 2D (N, K) to select a list of targets")
            idx = torch.tensor(target, device=output.device)
            _check_index(output, 1, idx, "list")
            return torch.gather(output, 1, idx.reshape(n, 1))
        if isinstance(target[0], tuple):
            return torch.stack([output[(i,) + tuple(t)] for i, t in enumerate(target)])
        raise TargetError(f"target element type {type(target[0]).__name__} in list is not valid")
    raise TargetError(f"target of type {type(target).__name__} is not supported")


def expand_target(target: TargetType, n: int, interleave: bool = False) -> TargetType:
    """Repeat a per-example target for ``n`` copies of the batch (Captum's ``_expand_target``)."""
    if n == 1:
        return target
    if isinstance(target, list):
        if interleave:
            return [t for t in target for _ in range(n)]
        return target * n
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.repeat_interleave(n, dim=0) if interleave else torch.cat([target] * n, dim=0)
    return target


def target_index_tensor(target: TargetType, n: int, device: torch.device) -> Optional[Tensor]:
    """A per-example (N,) class-index tensor for int / 1-D / list[int] targets, else None."""
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=device)
    if isinstance(target, Tensor) and target.numel() == 1 and not target.is_floating_point():
        return torch.full((n,), int(target.item()), dtype=torch.long, device=device)
    if isinstance(target, Tensor) and target.dim() == 1 and target.numel() == n:
        return target.to(device=device, dtype=torch.long)
    if isinstance(target, list) and len(target) == n and (n == 0 or isinstance(target[0], int)):
        return torch.tensor(target, dtype=torch.long, device=device)
    return None


class TargetSelector:
    """Selects target outputs for a batch made of ``copies`` copies of the N examples.

    For a Captum target it returns what ``select_targets`` returns for the expanded target.
    For a multi-target ((N, K) tensor or list of lists) it returns (rows, K): every target of
    every example from one forward pass.
    """

    def __init__(self, target: TargetType) -> None:
        self.target = target
        self.multi = is_multi_target(target)
        self.columns = multi_target_columns(target) if self.multi else []

    @property
    def n_targets(self) -> Optional[int]:
        """K for a multi-target, else None."""
        return len(self.columns) if self.multi else None

    def select(self, output: Tensor, copies: int = 1) -> Tensor:
        if not self.multi:
            return select_targets(output, expand_target(self.target, copies))
        cols = [
            select_targets(output, expand_target(c.to(output.device), copies)).reshape(output.shape[0])
            for c in self.columns
        ]
        return torch.stack(cols, dim=1)
