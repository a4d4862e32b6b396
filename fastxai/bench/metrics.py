"""Per-sample metrics of the evaluate stage, all computed through ``fastxai.eval``.

``score_batch(names, batch, options)`` -> ``(values {metric: (N,) float64}, curves {curve: (N, S+1)})``.
Localisation metrics are computed only for units with an annotation (box or mask) of the
explained class; the others get NaN (no row is written for NaN). Names (``METRICS``):

| name | definition |
|---|---|
| ``pointing_game`` | ``fastxai.eval.pointing_game(variant="quantus")`` |
| ``hit_rate`` | ``pointing_game(variant="saporta")`` (cheXlocalize's hit) |
| ``energy_pointing_game`` | ``energy_pointing_game`` |
| ``relevance_mass`` / ``relevance_rank`` | ``relevance_mass_accuracy`` / ``relevance_rank_accuracy`` |
| ``attribution_localisation`` / ``heatmap_auroc`` | as ``fastxai.eval`` |
| ``iou_otsu`` | ``saporta_iou(threshold="otsu")`` (cheXlocalize's default protocol) |
| ``border_mass`` | Σ max(h, 0) in the border band (``metrics.border`` of each side) / Σ max(h, 0): attribution on the image border (markers, shortcuts); NaN for maps without positive mass |
| ``sparseness`` / ``complexity`` | Gini index / entropy of abs(h) |
| ``deletion_auc`` / ``insertion_auc`` | AUC of ``deletion_curve`` (mode deletion / insertion) on the model's class probability; the curves are stored (``curves()``) |
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

LOCALISATION = {"pointing_game", "hit_rate", "energy_pointing_game", "relevance_mass", "relevance_rank",
                "attribution_localisation", "heatmap_auroc", "iou_otsu"}
MAP_ONLY = {"border_mass", "sparseness", "complexity"}
CURVES = {"deletion_auc": "deletion", "insertion_auc": "insertion"}
METRICS = sorted(LOCALISATION | MAP_ONLY | set(CURVES))
HIGHER_IS_BETTER = {m: True for m in METRICS}
HIGHER_IS_BETTER.update({"deletion_auc": False, "border_mass": False, "complexity": False})


@dataclass
class EvalBatch:
    """What the metrics see for N explained units."""

    maps: Tensor  # (N, H, W) float
    images: Tensor  # (N, C, H, W) model inputs
    targets: Tensor  # (N,) int64 class index
    boxes: List[Tensor]  # per unit (B_i, 4) boxes of the explained class, model-input frame
    masks: Optional[Tensor]  # (N, H, W) bool or None
    prob_fn: Callable[[Tensor], Tensor]  # images -> (B, K) class probabilities


def _localisation(name: str, maps: Tensor, boxes: Any, masks: Optional[Tensor]) -> Tensor:
    import fastxai.eval as fe

    ann = {"masks": masks} if masks is not None else {"boxes": boxes, "image_size": tuple(maps.shape[-2:])}
    if name == "pointing_game":
        return fe.pointing_game(maps, **ann, variant="quantus")
    if name == "hit_rate":
        return fe.pointing_game(maps, **ann, variant="saporta")
    if name == "iou_otsu":
        return fe.saporta_iou(maps, **ann, threshold="otsu")
    fn = {"energy_pointing_game": fe.energy_pointing_game, "relevance_mass": fe.relevance_mass_accuracy,
          "relevance_rank": fe.relevance_rank_accuracy, "attribution_localisation": fe.attribution_localisation,
          "heatmap_auroc": fe.heatmap_auroc}[name]
    return fn(maps, **ann)


def border_mass(maps: Tensor, border: float) -> Tensor:
    """(N, H, W) -> (N,) share of the positive attribution within ``border`` of each side."""
    h, w = maps.shape[-2:]
    by, bx = max(1, math.ceil(border * h)), max(1, math.ceil(border * w))
    band = torch.ones(h, w, dtype=torch.bool, device=maps.device)
    band[by:h - by, bx:w - bx] = False
    pos = maps.to(torch.float64).clamp_min(0)
    total = pos.sum((1, 2))
    inside = (pos * band).sum((1, 2))
    return torch.where(total > 0, inside / total, torch.full_like(total, float("nan"))).cpu()


def annotated(batch: EvalBatch) -> Tensor:
    """(N,) bool: the unit has a non-empty box or mask of its class."""
    if batch.masks is not None:
        return batch.masks.flatten(1).any(1).cpu()
    return torch.tensor([b.numel() > 0 and bool(((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).any())
                         for b in batch.boxes], dtype=torch.bool)


def score_batch(names: List[str], batch: EvalBatch, curve_steps: int = 16, border: float = 0.1,
                max_batch: int = 64) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Every metric in ``names`` for the batch. Returns ({metric: (N,)}, {curve: (N, S + 1)})."""
    import fastxai.eval as fe

    n = batch.maps.shape[0]
    values: Dict[str, Tensor] = {}
    curves: Dict[str, Tensor] = {}
    ann = annotated(batch)
    idx = ann.nonzero().flatten()
    for name in names:
        if name in LOCALISATION:
            out = torch.full((n,), float("nan"), dtype=torch.float64)
            if idx.numel():
                sub_boxes = [batch.boxes[i] for i in idx.tolist()]
                sub_masks = batch.masks[idx] if batch.masks is not None else None
                out[idx] = _localisation(name, batch.maps[idx], sub_boxes, sub_masks).to(torch.float64)
            values[name] = out
        elif name == "border_mass":
            values[name] = border_mass(batch.maps, border)
        elif name in ("sparseness", "complexity"):
            values[name] = getattr(fe, name)(batch.maps).to(torch.float64).cpu()
        elif name in CURVES:
            h, w = batch.maps.shape[-2:]
            curve = fe.deletion_curve(batch.prob_fn, batch.images, batch.maps, target=batch.targets,
                                      mode=CURVES[name], step=math.ceil(h * w / curve_steps), max_batch=max_batch)
            curves[CURVES[name]] = curve
            values[name] = fe.curve_auc(curve)
        else:  # validated earlier; kept as a guard
            raise KeyError(name)
    return values, curves


def randomisation_scores(model: torch.nn.Module, make_explainer: Callable, images: Tensor, targets: Tensor,
                         sample_ids: List[str], order: str, seed: int) -> Tensor:
    """Model-parameter randomisation (``fastxai.eval.model_parameter_randomisation``): per unit the
    Spearman correlation between the map of the trained model and of the fully randomised one
    (last layer of the cascade). (N,) float64; low = the method depends on the weights."""
    import fastxai.eval as fe

    def explain(m: torch.nn.Module, x: Tensor, t: Tensor) -> Tensor:
        return make_explainer(m)(x, t, sample_ids)

    per_layer = fe.model_parameter_randomisation(model, images, targets, explain, order=order, seed=seed)
    return list(per_layer.values())[-1].to(torch.float64).cpu()
