"""IoU / Dice of thresholded heat maps vs the annotation, and the Saporta et al. 2022 protocol.

Binarisation:

* ``overlap_at_thresholds``: optional per-map min-max normalisation ``(h - min) / max(h - min)``
  (cheXlocalize; a constant map becomes all-NaN, i.e. an empty prediction), then ``h > t``
  (``strict=True``, cheXlocalize) or ``h >= t``, for every threshold t: (N, T) scores.
* ``overlap_at_top_k``: the top ``ceil(q/100 * P)`` pixels (tie rule of ``fastxai.eval.ranking``)
  for each percentage q: (N, Q) scores.

Empty sets: with ``true_pos_only=False`` (default) the score is NaN only when prediction and
annotation are both empty (a prediction on an empty annotation scores 0); with
``true_pos_only=True`` (cheXlocalize default) it is NaN when either is empty.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Union

import torch

from fastxai.eval.boxes import Boxes, box_ranges
from fastxai.eval.errors import InputError, check_same_n
from fastxai.eval.inputs import prepare, spatial_shape, streaming_options, to_heatmaps, warn_empty_rows
from fastxai.ops.eval_overlap_thresholds import finite_range, overlap_thresholds, overlap_thresholds_boxes
from fastxai.ops.eval_topk_hits import mask_counts, topk_hits
from fastxai.eval.state import MeanMetric


def _score_counts(inter: torch.Tensor, sp: torch.Tensor, sm: torch.Tensor, measure: str,
                  true_pos_only: bool) -> torch.Tensor:
    """IoU / Dice from |P ∩ G|, |P|, |G| (float64, same shape) with the empty-set rules above."""
    if measure == "iou":
        out = inter / (sp + sm - inter)
    elif measure == "dice":
        out = 2 * inter / (sp + sm)
    else:
        raise InputError(f"measure must be iou|dice, got {measure!r}")
    undefined = (sp == 0) | (sm == 0) if true_pos_only else (sp + sm == 0)
    return torch.where(undefined, torch.full_like(out, float("nan")), out).cpu()


def minmax_normalise(h: torch.Tensor) -> torch.Tensor:
    """Per-row (h - min) / max(h - min); constant rows become NaN (cheXlocalize). h: (N, P).

    Rows whose range exceeds the dtype's maximum are halved first (exact: the same values, no inf)."""
    h = finite_range(h)
    shifted = h - h.amin(1, keepdim=True)
    return shifted / shifted.amax(1, keepdim=True)


def _warn_empty(msum: torch.Tensor) -> None:
    warn_empty_rows(msum.cpu() == 0)  # at the stack depth of ``prepare``'s own warning


_BOX_OPTIONS = {"image_size", "channel_reduction", "sign", "quantus_compat"}


def _box_counts(heatmaps, boxes, thresholds, normalise, strict, image_size=None, channel_reduction: str = "sum",
                sign: str = "signed", quantus_compat: bool = False):
    """``overlap_thresholds`` with boxes kept as pixel ranges tested in the kernel (no (N, P) mask);
    validation, checks and the empty-annotation warning as in ``prepare``, in the same order."""
    spatial = spatial_shape(heatmaps, None, image_size)
    ranges = box_ranges(boxes, spatial)
    check_same_n(heatmaps=heatmaps, annotations=ranges)
    h = to_heatmaps(heatmaps, spatial, channel_reduction=channel_reduction, sign=sign, quantus_compat=quantus_compat)
    _check_normalise(normalise)
    counts = overlap_thresholds_boxes(h.reshape(h.shape[0], math.prod(spatial)), ranges.to(h.device), spatial, thresholds,
                                      normalise, strict)
    _warn_empty(counts[2])
    return counts


def _check_normalise(normalise: str) -> None:
    if normalise not in ("minmax", "none"):
        raise InputError(f"normalise must be minmax|none, got {normalise!r}")


def overlap_at_thresholds(
    heatmaps: torch.Tensor, boxes: Optional[Boxes] = None, masks: Optional[torch.Tensor] = None, *,
    thresholds: Sequence[float] = (0.5,), normalise: str = "minmax", strict: bool = True,
    measure: str = "iou", true_pos_only: bool = False, **options: Any,
) -> torch.Tensor:
    """IoU (or Dice) of ``h > t`` (``>=`` if not strict) vs the annotation, per threshold.

    ``normalise``: ``"minmax"`` (per map) or ``"none"``. Returns (N, T) float64. All thresholds
    are scored in one pass per map (``fastxai.ops.eval_overlap_thresholds``: counts |h > t|,
    |(h > t) ∩ G| for every t, and |G|; the same decisions as ``minmax_normalise(h) > t``).
    """
    thresholds = list(thresholds)
    if masks is None and boxes is not None and set(options) <= _BOX_OPTIONS:
        pred, inter, msum = _box_counts(heatmaps, boxes, thresholds, normalise, strict, **options)
    else:
        h, m, _ = prepare(heatmaps, boxes, masks, **options)
        _check_normalise(normalise)
        pred, inter, msum = overlap_thresholds(h, m, thresholds, normalise, strict)
    if not thresholds:
        return torch.empty(pred.shape[0], 0, dtype=torch.float64)
    sm = msum.to(torch.float64)[:, None].expand(-1, len(thresholds))
    return _score_counts(inter.to(torch.float64), pred.to(torch.float64), sm, measure, true_pos_only)


def overlap_at_top_k(
    heatmaps: torch.Tensor, boxes: Optional[Boxes] = None, masks: Optional[torch.Tensor] = None, *,
    percents: Sequence[float] = (5.0, 10.0, 20.0), measure: str = "iou", true_pos_only: bool = False,
    **options: Any,
) -> torch.Tensor:
    """IoU (or Dice) of the top ``ceil(q/100 * P)`` pixels vs the annotation, per q. Returns (N, Q)."""
    h, m, _ = prepare(heatmaps, boxes, masks, **options)
    p = h.shape[1]
    for q in percents:
        if not 0 <= q <= 100:
            raise InputError(f"percents must be in [0, 100], got {q}")
    ks = [math.ceil(q / 100 * p - 1e-9) for q in percents]
    hits = topk_hits(h, m, ks).to(torch.float64).cpu()
    sm = mask_counts(m).to(torch.float64).cpu()
    cols = [_score_counts(hits[:, j], torch.full_like(sm, float(k)), sm, measure, true_pos_only)
            for j, k in enumerate(ks)]
    return torch.stack(cols, 1) if cols else torch.empty(h.shape[0], 0, dtype=torch.float64)


def saporta_iou(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                masks: Optional[torch.Tensor] = None, *, threshold: Union[float, str] = 0.5,
                true_pos_only: bool = True, **options: Any) -> torch.Tensor:
    """cheXlocalize protocol: min-max normalise, binarise, IoU. (N,) float64.

    ``threshold``: a number (``h > threshold``, the protocol's tuned-threshold variant) or
    ``"otsu"`` (Otsu on ``uint8(255·h)`` with holes filled, cheXlocalize's default; see
    :func:`fastxai.eval.otsu.saporta_iou_otsu`, which takes ``fill_holes=``). Heat maps are
    upsampled bilinearly (align_corners=False) to the annotation size first; the dataset mIoU
    is the NaN-skipping mean (``MeanIoU``).
    """
    if isinstance(threshold, str):
        if threshold != "otsu":
            raise InputError(f"threshold must be a number or 'otsu', got {threshold!r}")
        from fastxai.eval.otsu import saporta_iou_otsu  # otsu builds on this module's inputs

        return saporta_iou_otsu(heatmaps, boxes, masks, true_pos_only=true_pos_only, **options)
    return overlap_at_thresholds(heatmaps, boxes, masks, thresholds=(threshold,), normalise="minmax",
                                 strict=True, measure="iou", true_pos_only=true_pos_only, **options)[:, 0]


class OverlapAtThresholds(MeanMetric):
    """Streaming mean IoU/Dice per threshold: ``compute()`` -> (T,) (NaN skipped per column)."""

    def __init__(self, thresholds: Sequence[float] = (0.5,), **options: Any) -> None:
        super().__init__(shape=(len(thresholds),))
        self.options = dict(options, thresholds=tuple(thresholds))
        self._settings = streaming_options(overlap_at_thresholds, self.options)

    def settings(self) -> Dict[str, Any]:  # noqa: D102 - every option, defaults filled in
        return {"shape": tuple(self.total.shape), **self._settings}

    def update(self, heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,  # type: ignore[override]
               masks: Optional[torch.Tensor] = None) -> None:
        """Score a batch of N heat maps."""
        self.update_scores(overlap_at_thresholds(heatmaps, boxes, masks, **self.options))


class OverlapAtTopK(MeanMetric):
    """Streaming mean IoU/Dice per top-k percentage: ``compute()`` -> (Q,)."""

    def __init__(self, percents: Sequence[float] = (5.0, 10.0, 20.0), **options: Any) -> None:
        super().__init__(shape=(len(percents),))
        self.options = dict(options, percents=tuple(percents))
        self._settings = streaming_options(overlap_at_top_k, self.options)

    def settings(self) -> Dict[str, Any]:  # noqa: D102 - every option, defaults filled in
        return {"shape": tuple(self.total.shape), **self._settings}

    def update(self, heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,  # type: ignore[override]
               masks: Optional[torch.Tensor] = None) -> None:
        """Score a batch of N heat maps."""
        self.update_scores(overlap_at_top_k(heatmaps, boxes, masks, **self.options))


class MeanIoU(MeanMetric):
    """Saporta et al. 2022 mIoU (``saporta_iou`` averaged, NaN skipped; ``threshold`` a number
    or ``"otsu"``). Hit rate: ``PointingGame(variant="saporta")``."""

    def __init__(self, threshold: Union[float, str] = 0.5, **options: Any) -> None:
        super().__init__()
        self.options = dict(options, threshold=threshold)
        self._settings = streaming_options(saporta_iou, self.options,
                                           {"fill_holes": True} if threshold == "otsu" else None)

    def settings(self) -> Dict[str, Any]:  # noqa: D102 - every option, defaults filled in
        return {"shape": (), **self._settings}

    def update(self, heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,  # type: ignore[override]
               masks: Optional[torch.Tensor] = None) -> None:
        """Score a batch of N heat maps."""
        self.update_scores(saporta_iou(heatmaps, boxes, masks, **self.options))
