"""What to explain: one :class:`Target` type serving the perturbation and the gradient loop.

Captum's ``target`` forms (per call): None, int, tuple of ints, 0-d / one-element integer
tensor, (N,) tensor, list of N ints, list of N tuples. fastxai adds *several targets per
example*: an (N, K) integer tensor or a list of N lists of K ints, explained in one pass.

The perturbation loop selects outputs for ``copies`` stacked copies of the batch
(:meth:`Target.select`); the gradient loop needs the Captum-form target repeated per step
(:meth:`Target.expand`) or sliced to its rows (:meth:`Target.rows`). Range checks are done
against the model output, with :class:`~fastxai._captum.errors.TargetError`.
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
    """Captum's ``_select_targets`` with range checks. ``output`` is (R, ...); per-row target
    forms hold R entries."""
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
            raise TargetError(f"target list has length {len(target)} but the batch has {n} examples")
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


def _per_row(target: TargetType) -> bool:
    return isinstance(target, list) or (isinstance(target, Tensor) and target.numel() > 1)


def expand_target(target: TargetType, n: int, interleave: bool = False) -> TargetType:
    """Repeat a per-example target for ``n`` copies of the batch (Captum's ``_expand_target``):
    stacked copies, or each entry ``n`` times in a row with ``interleave``."""
    if n == 1 or not _per_row(target):
        return target
    if isinstance(target, list):
        return [t for t in target for _ in range(n)] if interleave else target * n
    assert isinstance(target, Tensor)
    return target.repeat_interleave(n, dim=0) if interleave else torch.cat([target] * n, dim=0)


def slice_target(target: TargetType, r0: int, r1: int) -> TargetType:
    """Rows ``[r0, r1)`` of a per-row target (lists and multi-element tensors); others as is.

    A one-row slice of a per-row tensor becomes a one-element list: a one-element tensor
    would read as one index for every row (Captum's rule) and select a differently shaped
    output than the other slices."""
    if not _per_row(target):
        return target
    part = target[r0:r1]
    if isinstance(part, Tensor) and part.numel() == 1:
        return [int(part.item())]
    return part


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


def _check_form(target: TargetType, n: Optional[int]) -> None:
    """Type and length checks that need no model output (range checks come with it)."""
    if target is None or isinstance(target, (int, tuple)):
        if isinstance(target, bool):
            raise TargetError("target must be an int index, not a bool")
        return
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex():
            raise TargetError(f"target tensor must hold integer indices, got dtype {target.dtype}")
        if target.dim() > 2:
            raise TargetError(f"target tensor must be 0-d, (N,) or (N, K), got shape {tuple(target.shape)}")
        per_row = target.dim() == 2 or target.numel() > 1
    elif isinstance(target, list):
        per_row = True
    else:
        raise TargetError(f"target of type {type(target).__name__} is not supported")
    if per_row and n is not None and len(target) != n:
        kind = "list" if isinstance(target, list) else "tensor"
        raise TargetError(f"target {kind} has length {len(target)} but the batch has {n} examples")


class Target:
    """A validated ``target`` for both loops.

    Args:
        target: any Captum form, or an (N, K) tensor / list of N lists (K targets per example).
        n: the batch size N, to check per-example forms' lengths up front (None: unchecked).

    ``captum`` is the Captum-form target (None for a multi-target); ``n_targets`` is K for a
    multi-target, else None; ``columns`` the K (N,) index tensors of a multi-target.
    """

    def __init__(self, target: TargetType = None, n: Optional[int] = None) -> None:
        _check_form(target, n)
        self.multi = is_multi_target(target)
        self.captum: TargetType = None if self.multi else target
        self.raw = target
        self.columns: List[Tensor] = []
        if self.multi:
            t = target if isinstance(target, Tensor) else torch.tensor(target)
            self.columns = [t[:, k] for k in range(t.shape[1])]

    @classmethod
    def of(cls, target: Any, n: Optional[int] = None) -> "Target":
        """``target`` itself when already a :class:`Target`, else ``Target(target, n)``."""
        return target if isinstance(target, Target) else cls(target, n)

    @property
    def target(self) -> TargetType:
        """The form the user passed (kept for code written against ``TargetSelector``)."""
        return self.raw

    @property
    def n_targets(self) -> Optional[int]:
        """K for a multi-target, else None."""
        return len(self.columns) if self.multi else None

    def select(self, output: Tensor, copies: int = 1, rows: Optional[Tuple[int, int]] = None) -> Tensor:
        """Target outputs for ``output``: rows ``copies`` stacked copies of the batch (the
        perturbation loop's layout), or only rows ``[r0, r1)`` of them when ``rows`` is given.
        Returns what Captum's selection returns, or (rows, K) for a multi-target."""
        if not self.multi:
            return select_targets(output, self._rows(self.captum, copies, rows))
        n = output.shape[0]
        cols = [select_targets(output, self._rows(c.to(output.device), copies, rows)).reshape(n)
                for c in self.columns]
        return torch.stack(cols, dim=1)

    @staticmethod
    def _rows(target: TargetType, copies: int, rows: Optional[Tuple[int, int]]) -> TargetType:
        t = expand_target(target, copies)
        return t if rows is None else slice_target(t, rows[0], rows[1])

    def expand(self, copies: int, interleave: bool = False) -> TargetType:
        """The Captum-form target for ``copies`` stacked (or interleaved) copies of the batch."""
        self._single("expand")
        return expand_target(self.captum, copies, interleave)

    def rows(self, r0: int, r1: int) -> TargetType:
        """The Captum-form target of rows ``[r0, r1)`` (a target already given per row)."""
        self._single("rows")
        return slice_target(self.captum, r0, r1)

    def index_tensor(self, n: int, device: torch.device) -> Optional[Tensor]:
        """A per-example (N,) class-index tensor for int / 1-D / list[int] targets, else None."""
        return None if self.multi else target_index_tensor(self.captum, n, device)

    def _single(self, what: str) -> None:
        if self.multi:
            raise InputError(f"target: an (N, K) multi-target is not supported here ({what}); "
                             "pass one target per example")
