"""Localisation metrics: per-sample scores of heat maps against boxes / masks.

Every function takes ``heatmaps`` (N, [C,] H, W) or volumes (N, [C,] D, H, W), an annotation
(``boxes`` and/or ``masks``), the input-rule options of ``fastxai.eval.inputs``
(``image_size``, ``channel_reduction``, ``sign``, ``quantus_compat``) and returns (N,) float64
scores. An empty annotation gives NaN for every metric (deliberate deviation from Quantus'
PointingGame, which returns 1.0 there). Streaming classes (mean over samples, NaN skipped and
counted) are at the bottom.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Optional, Sequence

import torch

from fastxai.eval.boxes import BoxClippedWarning, Boxes, box_ranges, boxes_to_mask
from fastxai.eval.errors import InputError
from fastxai.eval.errors import check_same_n
from fastxai.eval.inputs import apply_sign, prepare, spatial_shape, streaming_options, to_heatmaps, warn_empty_rows
from fastxai.eval.state import MeanMetric
from fastxai.ops.eval_heatmap_auroc import heatmap_auroc_op
from fastxai.ops.eval_heatmap_stats import COL, heatmap_stats, heatmap_stats_boxes
from fastxai.ops.eval_topk_hits import mask_counts, topk_hits, topk_hits_per_row

NAN = float("nan")
_SUMS = [COL["sum"], COL["sum_pos"], COL["sum_in"], COL["pos_in"]]
_SCALE = len(COL)  # extra column of _stats: the power of two the sums of a row were scaled by


def _stats(h: torch.Tensor, m: Optional[torch.Tensor], sign: str = "signed",
           ranges: Optional[torch.Tensor] = None, spatial: Sequence[int] = ()) -> torch.Tensor:
    """Fused per-map statistics of sign(h) (one pass); raises naming the samples whose heat maps
    hold NaN/Inf, then warns about empty annotations (from the mask-count column). With box
    ``ranges`` (and no mask) the boxes are tested by coordinates inside the kernel.

    Returns (N, 10): the ``STATS`` columns plus ``_SCALE``, the exact power of two the row's sums
    were scaled by (1 unless a float64 map's sums left the float64 range: such rows are summed
    again after scaling |h| below 1, which leaves every ratio of sums unchanged)."""
    st = heatmap_stats(h, m, sign) if ranges is None else heatmap_stats_boxes(h, ranges, spatial, sign)
    bad = st[:, COL["nonfinite"]] > 0
    if bool(bad.any()):
        raise InputError(f"heatmaps contains NaN or Inf in samples {torch.nonzero(bad).flatten()[:10].tolist()}")
    scale = torch.ones(st.shape[0], dtype=torch.float64)  # the factor the sums of each row carry
    over = ~torch.isfinite(st[:, _SUMS]).all(1)  # finite float64 maps whose sums leave the float64 range
    if bool(over.any()):
        rows = torch.nonzero(over).flatten()
        hr = h[rows.to(h.device)]
        peak = hr.abs().amax(1, keepdim=True)
        scaled = hr * torch.pow(2.0, -torch.frexp(peak).exponent.to(hr.dtype))  # exact: |h| < 1 after
        again = heatmap_stats(scaled, m[rows.to(m.device)], sign) if ranges is None else \
            heatmap_stats_boxes(scaled, ranges[rows.to(ranges.device)], spatial, sign)
        st[rows[:, None], torch.tensor(_SUMS)] = again[:, _SUMS]  # ratios of these are scale-free
        scale[rows] = torch.pow(2.0, -torch.frexp(peak).exponent.to(torch.float64))[:, 0].cpu()
    warn_empty_rows(st[:, COL["count"]] == 0)
    return torch.cat([st, scale[:, None]], 1)


class _Fused:
    """Prepared inputs for the fused kernel: h (N, P), the mask m (N, P) or box ``ranges`` (N, B, 6)
    (masks not given: the boxes are never rasterised unless a variant needs the mask), spatial, sign."""

    def __init__(self, h, m, spatial, sign, ranges=None, boxes=None):
        self.h, self._m, self.spatial, self.sign, self.ranges, self.boxes = h, m, spatial, sign, ranges, boxes

    @property
    def m(self) -> torch.Tensor:
        if self._m is None:
            with warnings.catch_warnings():  # box_ranges already warned about clipped boxes in this call
                warnings.simplefilter("ignore", BoxClippedWarning)
                m = boxes_to_mask(self.boxes, self.spatial)
            self._m = m.reshape(self.h.shape[0], self.h.shape[1]).to(self.h.device)
        return self._m

    def stats(self) -> torch.Tensor:
        return _stats(self.h, self._m, self.sign, self.ranges, self.spatial)


def _prepare_fused(heatmaps, boxes, masks, sign: str = "signed", image_size=None,
                   channel_reduction: str = "sum", quantus_compat: bool = False) -> _Fused:
    """``prepare`` without the NaN scan, the sign copy and the empty-mask scan (the fused kernel
    does all three inside its pass); boxes without masks stay coordinates (no (N, P) mask)."""
    if masks is None and boxes is not None:
        spatial = spatial_shape(heatmaps, None, image_size)
        ranges = box_ranges(boxes, spatial)
        check_same_n(heatmaps=heatmaps, annotations=ranges)
        h = to_heatmaps(heatmaps, spatial, channel_reduction=channel_reduction, sign="signed",
                        quantus_compat=quantus_compat, check=False)
        apply_sign(h[:0], sign)  # validates the name
        return _Fused(h.reshape(h.shape[0], math.prod(spatial)), None, spatial, sign, ranges.to(h.device), boxes)
    h, m, spatial = prepare(heatmaps, boxes, masks, sign=sign, fused=True, image_size=image_size,
                            channel_reduction=channel_reduction, quantus_compat=quantus_compat)
    return _Fused(h, m, spatial, sign)


def _nan_where(x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    return torch.where(cond, torch.full_like(x, NAN), x)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den with 0/0 -> NaN (numpy semantics)."""
    return num / den


def pointing_game(
    heatmaps: torch.Tensor,
    boxes: Optional[Boxes] = None,
    masks: Optional[torch.Tensor] = None,
    *,
    variant: str = "quantus",
    tolerance: float = 15.0,
    image_size: Optional[Sequence[int]] = None,
    channel_reduction: str = "sum",
    sign: str = "signed",
    quantus_compat: bool = False,
) -> torch.Tensor:
    """Pointing-game hit (1.0 / 0.0; NaN for an empty annotation). Returns (N,) float64.

    Variants (heat maps are first resized to the annotation size, bilinear, align_corners=False):

    * ``"quantus"`` (Quantus ``PointingGame``, Zhang et al. 2018): hit if *any* pixel tied for
      the maximum lies in the annotation.
    * ``"torchray"`` (TorchRay ``PointingGame``): the first arg-max (lowest flat index); hit if
      some annotated pixel lies at Euclidean distance ``< tolerance`` (strict; 15 px default).
    * ``"saporta"`` (cheXlocalize hit rate, Saporta et al. 2022): hit if the first arg-max pixel
      is annotated.
    """
    if variant not in ("quantus", "saporta", "torchray"):
        raise InputError(f"variant must be quantus|torchray|saporta, got {variant!r}")
    fu = _prepare_fused(heatmaps, boxes, masks, image_size=image_size, channel_reduction=channel_reduction,
                        sign=sign, quantus_compat=quantus_compat)
    st = fu.stats()
    empty = st[:, COL["count"]] == 0
    if variant == "quantus":
        hit = st[:, COL["hit"]].clone()
    elif variant == "saporta":
        arg = st[:, COL["argmax"]].to(torch.int64)
        m = fu.m
        hit = m.gather(1, arg[:, None].to(m.device))[:, 0].to(torch.float64).cpu()
    elif variant == "torchray":
        hit = _within_tolerance(fu.m, st[:, COL["argmax"]].to(torch.int64), fu.spatial, tolerance)
    else:
        raise InputError(f"variant must be quantus|torchray|saporta, got {variant!r}")
    return _nan_where(hit, empty)


def _within_tolerance(m: torch.Tensor, arg: torch.Tensor, spatial: Sequence[int], tol: float) -> torch.Tensor:
    """(N,) 1.0 if some mask pixel is at squared distance < tol^2 from the flat index ``arg``."""
    dev = m.device
    coords = torch.stack(torch.meshgrid(*[torch.arange(s, device=dev) for s in spatial], indexing="ij"))
    coords = coords.reshape(len(spatial), -1).to(torch.float64)  # (nd, P)
    point = coords[:, arg.to(dev)].T  # (N, nd)
    d2 = ((coords[None] - point[:, :, None]) ** 2).sum(1)  # (N, P)
    return ((d2 < tol * tol) & m).any(1).to(torch.float64).cpu()


def energy_pointing_game(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                         masks: Optional[torch.Tensor] = None, **options: Any) -> torch.Tensor:
    """Share of positive energy inside the annotation: Σ max(h,0)·m / Σ max(h,0) (Wang et al. 2020).

    Returns (N,) float64; NaN for an empty annotation or a map without positive values.
    """
    st = _prepare_fused(heatmaps, boxes, masks, **options).stats()
    out = _ratio(st[:, COL["pos_in"]], st[:, COL["sum_pos"]])
    return _nan_where(out, st[:, COL["count"]] == 0)


def relevance_mass_accuracy(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                            masks: Optional[torch.Tensor] = None, **options: Any) -> torch.Tensor:
    """Quantus ``RelevanceMassAccuracy`` (Arras et al. 2022): Σ h·m / Σ h (signed by default).

    Returns (N,) float64; NaN for an empty annotation or Σ h = 0 (all-zero map); not guarded
    for Σ h < 0 (as Quantus).
    """
    st = _prepare_fused(heatmaps, boxes, masks, **options).stats()
    out = _ratio(st[:, COL["sum_in"]], st[:, COL["sum"]])
    return _nan_where(out, st[:, COL["count"]] == 0)


def attribution_localisation(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                             masks: Optional[torch.Tensor] = None, *, sign: str = "abs",
                             eps: float = 1e-9, **options: Any) -> torch.Tensor:
    """Quantus ``AttributionLocalisation`` (Kohlbrenner et al. 2020): Σ h·m / (Σ h + eps).

    Default ``sign="abs"`` as Quantus. NaN for an empty annotation or a ratio > 1; an all-zero
    map gives 0.0 (epsilon). Quantus' ``weighted=True`` is not reproduced (it depends on the
    batch size). Returns (N,) float64.
    """
    st = _prepare_fused(heatmaps, boxes, masks, sign=sign, **options).stats()
    out = st[:, COL["sum_in"]] / (st[:, COL["sum"]] + eps * st[:, _SCALE])  # eps in the sums' units
    return _nan_where(out, (st[:, COL["count"]] == 0) | (out > 1))


def top_k_intersection(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                       masks: Optional[torch.Tensor] = None, *, k: int = 1000,
                       concept_influence: bool = False, **options: Any) -> torch.Tensor:
    """Quantus ``TopKIntersection`` (Theiner et al. 2021): |top-k ∩ mask| / k.

    Top-k by the tie rule of ``fastxai.eval.ranking`` (Quantus' unstable argsort gives a
    result within the tie bounds). ``concept_influence`` multiplies by P / |mask|. Requires
    1 <= k <= P. Returns (N,) float64; NaN for an empty annotation.
    """
    h, m, _ = prepare(heatmaps, boxes, masks, **options)
    p = h.shape[1]
    if not 1 <= k <= p:
        raise InputError(f"k must be in [1, {p}] (number of pixels), got {k}")
    hits = topk_hits(h, m, [k])[:, 0].to(torch.float64).cpu()
    count = mask_counts(m).to(torch.float64).cpu()
    out = hits / k
    if concept_influence:
        out = out * p / count
    return _nan_where(out, count == 0)


def relevance_rank_accuracy(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                            masks: Optional[torch.Tensor] = None, **options: Any) -> torch.Tensor:
    """Quantus ``RelevanceRankAccuracy`` (Arras et al. 2022): |top-K ∩ mask| / K with K = |mask|.

    Selection per map (C++ ``nth_element``; torch: one stable sort), tie rule of
    ``fastxai.eval.ranking``. Returns (N,)
    float64; NaN for an empty annotation.
    """
    h, m, _ = prepare(heatmaps, boxes, masks, **options)
    k = mask_counts(m)
    hits = topk_hits_per_row(h, m, k).to(torch.float64).cpu()
    kf = k.to(torch.float64).cpu()
    return _nan_where(hits / kf.clamp(min=1), kf == 0)


def heatmap_auroc(heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,
                  masks: Optional[torch.Tensor] = None, **options: Any) -> torch.Tensor:
    """AUROC of the heat map as a pixel classifier of the annotation (Quantus ``AUC``).

    Mann-Whitney with average ranks for ties (= sklearn ``roc_curve`` + ``auc``), one radix sort
    per map (``fastxai.ops.eval_heatmap_auroc``). Returns (N,) float64; NaN for an empty or full-image annotation; 0.5 for a constant map.
    """
    h, m, _ = prepare(heatmaps, boxes, masks, **options)
    return heatmap_auroc_op(h, m)


# --------------------------------------------------------------------------- streaming


class LocalisationMetric(MeanMetric):
    """Streaming mean of a localisation score: ``update(heatmaps, boxes=None, masks=None)``.

    ``compute()`` gives the mean over samples with a defined score (NaN skipped; how many were
    skipped is in ``nan_count``). Options are passed to the score function.
    """

    score_fn: Callable[..., torch.Tensor]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self._settings = streaming_options(type(self).score_fn, options)

    def settings(self) -> Dict[str, Any]:
        """Every option of the score function, defaults filled in (merge / sync compare them)."""
        return {"shape": (), **self._settings}

    def update(self, heatmaps: torch.Tensor, boxes: Optional[Boxes] = None,  # type: ignore[override]
               masks: Optional[torch.Tensor] = None) -> None:
        """Score a batch (N heat maps) and add it to the state."""
        self.update_scores(type(self).score_fn(heatmaps, boxes, masks, **self.options))


class PointingGame(LocalisationMetric):
    """Streaming ``pointing_game`` (options: variant, tolerance, input rules)."""

    score_fn = staticmethod(pointing_game)


class EnergyPointingGame(LocalisationMetric):
    """Streaming ``energy_pointing_game``."""

    score_fn = staticmethod(energy_pointing_game)


class RelevanceMassAccuracy(LocalisationMetric):
    """Streaming ``relevance_mass_accuracy``."""

    score_fn = staticmethod(relevance_mass_accuracy)


class RelevanceRankAccuracy(LocalisationMetric):
    """Streaming ``relevance_rank_accuracy``."""

    score_fn = staticmethod(relevance_rank_accuracy)


class TopKIntersection(LocalisationMetric):
    """Streaming ``top_k_intersection`` (options: k, concept_influence)."""

    score_fn = staticmethod(top_k_intersection)


class AttributionLocalisation(LocalisationMetric):
    """Streaming ``attribution_localisation``."""

    score_fn = staticmethod(attribution_localisation)


class HeatmapAUROC(LocalisationMetric):
    """Streaming ``heatmap_auroc``."""

    score_fn = staticmethod(heatmap_auroc)
