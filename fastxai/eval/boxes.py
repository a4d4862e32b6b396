"""Box rasterisation: the one convention fastxai uses to turn boxes into masks.

Convention (documented in docs/evaluator.md):

* A 2D box is ``(x0, y0, x1, y1)`` in continuous pixel coordinates, x along W, y along H;
  a 3D box is ``(x0, y0, z0, x1, y1, z1)`` with z along D.
* Pixel ``i`` covers ``[i, i+1)``. The box is half-open ``[x0, x1) x [y0, y1)`` and contains
  pixel ``i`` iff its centre ``i + 0.5`` lies in ``[x0, x1)``, i.e. indices
  ``ceil(x0 - 0.5) <= i < ceil(x1 - 0.5)``. Integer boxes therefore cover exactly
  ``mask[y0:y1, x0:x1]`` (Python slicing). VOC-style 1-based inclusive boxes convert with
  ``(x0 - 1, y0 - 1, x1, y1)``.
* Boxes are clipped to the image, with one ``BoxClippedWarning`` per call giving the number of
  boxes that extend beyond it (boxes in another pixel frame than the maps score ~0). A box with ``x1 < x0`` (or y, z), non-finite coordinates,
  or with positive area but lying entirely outside the image raises ``InputError``.
  Zero-area boxes (e.g. all-zero padding rows) cover no pixel.
* Several boxes per image: their union.
"""
from __future__ import annotations

import warnings
from typing import Sequence, Tuple, Union

import torch

from fastxai.eval.errors import InputError

Boxes = Union[torch.Tensor, Sequence[torch.Tensor]]


def pad_boxes(boxes: Boxes, n_coords: int) -> torch.Tensor:
    """Boxes as one (N, B, 2*nd) float64 tensor; ragged lists are padded with zero-area rows."""
    if isinstance(boxes, torch.Tensor):
        b = boxes.to(torch.float64)
        if b.dim() == 2:
            b = b[:, None, :]
    else:
        items = [torch.as_tensor(x, dtype=torch.float64).reshape(-1, n_coords) for x in boxes]
        bmax = max([x.shape[0] for x in items], default=0)
        b = torch.zeros(len(items), max(bmax, 1), n_coords, dtype=torch.float64)
        for i, x in enumerate(items):
            b[i, : x.shape[0]] = x
    if b.dim() != 3 or b.shape[-1] != n_coords:
        raise InputError(
            f"boxes must be (N, {n_coords}), (N, B, {n_coords}) or a list of (B_i, {n_coords}) "
            f"tensors, got shape {tuple(b.shape)}"
        )
    return b


def _validate(b: torch.Tensor, spatial: Sequence[int]) -> None:
    nd = len(spatial)
    lo, hi = b[..., :nd], b[..., nd:]
    bad = ~torch.isfinite(b).all(-1)
    if bool(bad.any()):
        raise InputError(f"boxes has non-finite coordinates in samples {_samples(bad)}")
    inverted = (hi < lo).any(-1)
    if bool(inverted.any()):
        raise InputError(
            f"boxes has x1 < x0 (or y1 < y0 / z1 < z0) in samples {_samples(inverted)}; "
            "boxes are (x0, y0, x1, y1) [3D: (x0, y0, z0, x1, y1, z1)]"
        )
    # spatial is (D,) H, W while coordinates are x, y(, z): reverse to match.
    extent = torch.tensor(list(reversed(list(spatial))), dtype=torch.float64)
    nonempty = (hi > lo).all(-1)
    outside = ((lo >= extent) | (hi <= 0)).any(-1) & nonempty
    if bool(outside.any()):
        raise InputError(
            f"boxes lie entirely outside the image of size {tuple(spatial)} in samples "
            f"{_samples(outside)}"
        )


def _samples(flags: torch.Tensor) -> list:
    rows = flags.reshape(flags.shape[0], -1).any(-1)
    return torch.nonzero(rows).flatten()[:10].tolist()


def _axis_membership(lo: torch.Tensor, hi: torch.Tensor, length: int) -> torch.Tensor:
    """(N, B, L) bool: True where pixel centre i+0.5 is in [lo, hi) (half-open, clipped)."""
    start = torch.ceil(lo - 0.5).clamp(0, length)
    stop = torch.ceil(hi - 0.5).clamp(0, length)
    idx = torch.arange(length, dtype=torch.float64)
    return (idx >= start[..., None]) & (idx < stop[..., None])


class BoxClippedWarning(UserWarning):
    """Some boxes extend beyond the annotation frame and are clipped (boxes in another pixel frame?)."""


def _warn_clipped(b: torch.Tensor, spatial: Tuple[int, ...]) -> None:
    """One warning per call with the number of (positive-area) boxes extending beyond the frame."""
    nd = len(spatial)
    lo, hi = b[..., :nd], b[..., nd:]
    extent = torch.tensor(list(reversed(list(spatial))), dtype=torch.float64)
    beyond = ((lo < 0) | (hi > extent)).any(-1) & (hi > lo).all(-1)
    k = int(beyond.sum())
    if k:
        total = int((hi > lo).all(-1).sum())
        warnings.warn(
            f"{k} of {total} boxes extend beyond the annotation frame of size {spatial} (samples "
            f"{_samples(beyond)}) and are clipped to it. If the boxes are in another pixel frame than the heat "
            "maps (e.g. the original image), pass image_size= (an int or (H, W)) so the maps are resized to it.",
            BoxClippedWarning, stacklevel=4)


def _checked_boxes(boxes: Boxes, spatial: Sequence[int]) -> Tuple[Tuple[int, ...], torch.Tensor]:
    """(spatial as ints, (N, B, 2·nd) padded boxes) after the shape and coordinate checks."""
    spatial = tuple(int(s) for s in spatial)
    nd = len(spatial)
    if nd not in (2, 3):
        raise InputError(f"spatial must be (H, W) or (D, H, W), got {spatial}")
    b = pad_boxes(boxes, 2 * nd)
    _validate(b, spatial)
    _warn_clipped(b, spatial)
    return spatial, b


def boxes_to_mask(boxes: Boxes, spatial: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Rasterise boxes into boolean masks (union of each image's boxes).

    Args:
        boxes: (N, 4) / (N, B, 4) / list of (B_i, 4) for 2D images of size (H, W);
            (N, 6) / (N, B, 6) / list of (B_i, 6) for volumes of size (D, H, W).
        spatial: (H, W) or (D, H, W).
    Returns:
        (N, H, W) or (N, D, H, W) bool mask.
    """
    spatial, b = _checked_boxes(boxes, spatial)
    nd = len(spatial)
    lo, hi = b[..., :nd], b[..., nd:]
    # coordinate k (x, y, z) runs along spatial axis nd-1-k
    axes = [_axis_membership(lo[..., k], hi[..., k], spatial[nd - 1 - k]) for k in range(nd)]
    # union over boxes of outer products of the per-axis memberships, built directly as bool
    # (no float (N, H, W) intermediate); boxes are few, the loop is over B only
    mask = None
    for j in range(b.shape[1]):
        if nd == 2:
            part = axes[1][:, j, :, None] & axes[0][:, j, None, :]
        else:
            part = axes[2][:, j, :, None, None] & axes[1][:, j, None, :, None] & axes[0][:, j, None, None, :]
        mask = part if mask is None else mask.logical_or_(part)
    if mask is None:
        mask = torch.zeros(b.shape[0], *spatial, dtype=torch.bool)
    return mask.contiguous().to(device)


def box_ranges(boxes: Boxes, spatial: Sequence[int]) -> torch.Tensor:
    """Boxes as clipped half-open integer pixel ranges, validated as in ``boxes_to_mask``.

    Returns (N, B, 6) int64 ``[z0, z1, y0, y1, x0, x1]`` (2D: z = [0, 1)); ``boxes_to_mask`` is the
    union over B of these ranges (used by the fused kernels to test boxes by coordinates).
    """
    spatial, b = _checked_boxes(boxes, spatial)
    nd = len(spatial)
    lo, hi = b[..., :nd], b[..., nd:]
    cols = []
    for axis in range(nd):  # spatial axis order: (z,) y, x; coordinate k runs along axis nd-1-k
        k = nd - 1 - axis
        length = spatial[axis]
        cols.append(torch.ceil(lo[..., k] - 0.5).clamp(0, length))
        cols.append(torch.ceil(hi[..., k] - 0.5).clamp(0, length))
    if nd == 2:
        cols = [torch.zeros_like(cols[0]), torch.ones_like(cols[0])] + cols
    return torch.stack(cols, -1).to(torch.int64)
