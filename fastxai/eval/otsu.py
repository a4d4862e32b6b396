"""Otsu binarisation of heat maps as in cheXlocalize (Saporta et al. 2022), batched.

cheXlocalize's ``cam_to_segmentation``: ``h = h - min(h); u8 = uint8(255 * h / max(h))`` (in the
map's dtype, truncation toward zero), then ``cv2.threshold(u8, 0, max(u8), cv2.THRESH_OTSU)``, i.e.
foreground = ``u8 > t`` where t is OpenCV's Otsu level, then the contours of the segmentation are
filled (holes filled). Here:

* ``uint8_levels``: the same uint8 conversion for N maps at once; a constant map (0/0 -> NaN in
  cheXlocalize, which ``np.uint8`` turns into 0) gives all zeros, i.e. an empty segmentation.
* ``otsu_threshold``: one 256-bin histogram per map for the whole batch (a single ``bincount`` on
  ``level + 256 * map index``), then OpenCV's rule: t = the level maximising the between-class
  variance ``q1 q2 (mu1 - mu2)^2`` of {<= t} vs {> t} over levels where both classes are non-empty,
  first maximum (strict ``>``), 0 if no level splits the map. The variance is evaluated as
  ``(N s1 - n1 S)^2 / (n1 (N - n1))`` from integer cumulative counts, so levels in a run of empty
  bins get bit-identical values and the **lowest** level of such a run is returned; every level of
  the run gives the same mask, but OpenCV (running float means) and scikit-image (float cumsums)
  may report another level of the run. scikit-image's ``threshold_otsu`` uses the same rule and
  convention (foreground = ``image > t``). Not reproduced: OpenCV skips levels with
  ``min(q1, q2) < FLT_EPSILON``, which only matters for maps of more than 1/FLT_EPSILON ≈ 8.4 M pixels.
* ``otsu_masks``: ``u8 > t``, then hole filling (``scipy.ndimage.binary_fill_holes`` on the whole
  batch at once with a structuring element that does not connect maps: background 4-connected in
  2D, 6-connected in 3D, i.e. foreground 8-/26-connected as OpenCV's contours). cheXlocalize fills
  the external and internal contour polygons instead; the two agree except where a polygon
  rasterisation differs from the pixel set it traces (e.g. one-pixel-wide diagonal spurs).
* ``saporta_iou_otsu``: the cheXlocalize IoU with Otsu masks (``true_pos_only=True`` default:
  NaN when the prediction or the annotation is empty).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

from fastxai.eval.boxes import Boxes
from fastxai.eval.errors import InputError, check_finite
from fastxai.eval.inputs import prepare

__all__ = ["uint8_levels", "otsu_threshold", "otsu_masks", "saporta_iou_otsu"]


def _check_maps(heatmaps: torch.Tensor) -> None:
    if not isinstance(heatmaps, torch.Tensor):
        raise InputError(f"heatmaps must be a torch.Tensor, got {type(heatmaps).__name__}")
    if heatmaps.dim() not in (3, 4):
        raise InputError(f"heatmaps must be (N, H, W) or (N, D, H, W), got {tuple(heatmaps.shape)}")


def uint8_levels(heatmaps: torch.Tensor) -> torch.Tensor:
    """cheXlocalize's ``uint8(255 * (h - min) / max(h - min))`` per map (in the maps' dtype).

    Args:
        heatmaps: (N, H, W) or (N, D, H, W) float (uint8 maps are returned as they are).
    Returns:
        (N, H, W) / (N, D, H, W) uint8; constant maps give zeros.
    """
    _check_maps(heatmaps)
    if heatmaps.dtype == torch.uint8:
        return heatmaps
    h = heatmaps.detach()
    if not h.is_floating_point():
        h = h.to(torch.float32)
    check_finite("heatmaps", h)
    n = h.shape[0]
    flat = h.reshape(n, math.prod(h.shape[1:]))
    if flat.shape[1] == 0:
        return torch.zeros_like(h, dtype=torch.uint8)
    lo, hi = torch.aminmax(flat, dim=1, keepdim=True)
    wide = torch.isinf(hi - lo)  # a range beyond the dtype's maximum: halve those maps (exact, same levels)
    if bool(wide.any()):
        flat, lo = torch.where(wide, flat * 0.5, flat), torch.where(wide, lo * 0.5, lo)
    shifted = flat - lo
    top = shifted.amax(1, keepdim=True)
    scaled = 255 * (shifted / torch.where(top > 0, top, torch.ones_like(top)))
    scaled = torch.where(top > 0, scaled, torch.zeros_like(scaled))
    return scaled.to(torch.uint8).reshape(h.shape)  # float -> uint8 truncates, as np.uint8


def otsu_threshold(heatmaps: torch.Tensor) -> torch.Tensor:
    """Otsu level per map on 256-bin histograms of ``uint8_levels(heatmaps)`` (OpenCV's rule).

    Args:
        heatmaps: (N, H, W) or (N, D, H, W), float (min-max normalised to uint8 first) or uint8.
    Returns:
        (N,) int64 levels t in [0, 255]; the segmentation is ``uint8_levels(h) > t``.
    """
    levels = uint8_levels(heatmaps)
    n = levels.shape[0]
    flat = levels.reshape(n, math.prod(levels.shape[1:])).to(torch.int64)
    offsets = torch.arange(n, device=flat.device).view(-1, 1) * 256
    hist = torch.bincount((flat + offsets).reshape(-1), minlength=256 * n).view(n, 256).to(torch.float64)
    return _otsu_from_hist(hist)


def _otsu_from_hist(hist: torch.Tensor) -> torch.Tensor:
    """(N, 256) float64 counts -> (N,) int64 Otsu levels (first maximum; 0 if no level splits)."""
    i = torch.arange(256, dtype=torch.float64, device=hist.device)
    n1 = torch.cumsum(hist, 1)  # pixels <= t (exact integers in float64)
    s1 = torch.cumsum(hist * i, 1)
    total, mass = n1[:, -1:], s1[:, -1:]
    valid = (n1 > 0) & (n1 < total)
    den = torch.where(valid, n1 * (total - n1), torch.ones_like(n1))
    sigma = torch.where(valid, (total * s1 - n1 * mass) ** 2 / den, torch.full_like(n1, -1.0))
    t = sigma.argmax(1)  # first maximum
    return torch.where(valid.any(1), t, torch.zeros_like(t))


def _fill_holes(masks: torch.Tensor) -> torch.Tensor:
    """Batched ``binary_fill_holes``: (N, H, W) / (N, D, H, W) bool, maps not connected to each other."""
    from scipy import ndimage

    nd = masks.dim() - 1
    structure = np.zeros((3,) * (nd + 1), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(nd, 1)
    filled = ndimage.binary_fill_holes(masks.cpu().numpy(), structure=structure)
    return torch.from_numpy(filled).to(masks.device)


def otsu_masks(heatmaps: torch.Tensor, fill_holes: bool = True) -> torch.Tensor:
    """cheXlocalize segmentation: ``uint8_levels(h) > otsu_threshold(h)``, holes filled.

    Args:
        heatmaps: (N, H, W) or (N, D, H, W), float or uint8.
        fill_holes: fill enclosed background (cheXlocalize fills its contours).
    Returns:
        bool, same shape as ``heatmaps``.
    """
    levels = uint8_levels(heatmaps)
    t = otsu_threshold(levels)
    pred = levels.to(torch.int64) > t.view(-1, *([1] * (levels.dim() - 1)))
    if fill_holes and pred.numel():
        pred = _fill_holes(pred)
    return pred


def saporta_iou_otsu(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None, masks: Optional[torch.Tensor] = None,
                     *, fill_holes: bool = True, true_pos_only: bool = True, **options: Any) -> torch.Tensor:
    """cheXlocalize IoU with Otsu binarisation (its default protocol). (N,) float64.

    Heat maps go through ``fastxai.eval.inputs.prepare`` (channel reduction, bilinear upsampling to
    the annotation size with ``align_corners=False`` as cheXlocalize, optional sign), then
    ``otsu_masks``; IoU = |P ∩ G| / |P ∪ G|, NaN if P or G is empty (``true_pos_only=True``) or
    only if both are (``False``).

    Args:
        heatmaps: (N, H, W), (N, C, H, W), (N, D, H, W) or (N, C, D, H, W).
        boxes / masks: the annotation (see ``fastxai.eval.inputs.prepare``).
        options: ``image_size``, ``channel_reduction``, ``sign``, ``quantus_compat``.
    """
    h, m, spatial = prepare(heatmaps, boxes, masks, **options)
    n = h.shape[0]
    pred = otsu_masks(h.reshape(n, *spatial), fill_holes=fill_holes).reshape(n, math.prod(spatial)).to(m.device)
    inter = torch.count_nonzero(pred & m, dim=1).to(torch.float64)
    sp = torch.count_nonzero(pred, dim=1).to(torch.float64)
    sm = torch.count_nonzero(m, dim=1).to(torch.float64)
    iou = inter / (sp + sm - inter)
    undefined = (sp == 0) | (sm == 0) if true_pos_only else (sp + sm == 0)
    return torch.where(undefined, torch.full_like(iou, float("nan")), iou).cpu()
