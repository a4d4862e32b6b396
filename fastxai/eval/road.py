"""ROAD: RemOve And Debias (Rong, Leemann et al. 2022), batched on the device.

Removed pixels are filled by noisy linear imputation (``fastxai.eval.road_imputation``: Quantus 0.6's
``noisy_linear_imputation``, solved for a whole chunk of images at once).

``road_curve``: pixels are ranked by the (channel-summed) attribution - MoRF descending, LeRF
ascending, **ties by lowest flat index** (``fastxai.eval.faithfulness.pixel_ranks``, the rule of the
deletion curves) - and for each percentage p the first ``int(H·W·p/100)`` pixels (Quantus' count)
are imputed; the model's arg-max is compared with the target (Quantus' accuracy) and the target
output is recorded (pytorch-grad-cam's ROAD: output after - output before).
``road_combined`` = mean over percentages of (LeRF change - MoRF change) / 2 (pytorch-grad-cam's
``ROADCombined``; its percentile p keeps p % of the pixels, so its MoRF(p) removes 100 - p %; over
the symmetric default set 10..90 the two conventions give the same average).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import torch

from fastxai.eval.errors import InputError, check_count
from fastxai.eval.faithfulness import Attributions, pixel_attributions, pixel_ranks
from fastxai.eval.road_imputation import ROAD_STREAM, RoadConvergenceWarning, noisy_linear_imputation

__all__ = ["RoadCurve", "RoadConvergenceWarning", "combine_road", "noisy_linear_imputation", "road_curve",
           "road_combined"]

@dataclass
class RoadCurve:
    """ROAD scores of N examples at Q percentages.

    Attributes:
        percentages: (Q,) percentages of pixels removed.
        n_removed: (Q,) pixels removed, ``int(H·W·p/100)`` (Quantus).
        order: ``"morf"`` or ``"lerf"``.
        target: (N,) class scored.
        correct: (N, Q) bool, arg-max of the model on the imputed image == target (Quantus' ROAD).
        score: (N, Q) float64, model output for the target on the imputed image.
        base_score: (N,) float64, model output for the target on the original image.
    """

    percentages: Tuple[float, ...]
    n_removed: Tuple[int, ...]
    order: str
    target: torch.Tensor
    correct: torch.Tensor
    score: torch.Tensor
    base_score: torch.Tensor

    @property
    def score_change(self) -> torch.Tensor:
        """(N, Q) output after - output before (pytorch-grad-cam's ROAD value; negative = drop)."""
        return self.score - self.base_score[:, None]

    def accuracy(self) -> torch.Tensor:
        """(Q,) fraction of examples still classified as the target (Quantus' per-percentage value)."""
        return self.correct.to(torch.float64).mean(0)

    def as_quantus(self) -> dict:
        """``{percentage: accuracy}`` over all N examples (Quantus' output format; Quantus itself
        averages only its first batch, see docs/evaluator.md)."""
        return {p: float(a) for p, a in zip(self.percentages, self.accuracy().tolist())}


def road_curve(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attributions: Attributions,
    *,
    target: Optional[Union[int, torch.Tensor]] = None,
    percentages: Sequence[float] = tuple(range(1, 100, 2)),
    order: str = "morf",
    noise: float = 0.01,
    seed: Optional[int] = 0,
    max_batch: int = 64,
    tol: float = 1e-9,
    max_iter: int = 500,
) -> RoadCurve:
    """ROAD curve: impute the first ``int(H·W·p/100)`` pixels in attribution order, re-score.

    Args:
        forward_func: model, (B, C, H, W) -> (B, K) scores (wrap with softmax for probabilities).
        inputs: (N, C, H, W).
        attributions: (N, H, W) or (N, C, H, W) (summed over C), or an attribution object /
            Quantus-style explain_func (see ``fastxai.eval.faithfulness.resolve_attributions``).
        target: class per example (int or (N,)); default: the model's top-1 class on the input.
        percentages: (Q,) percentages in [0, 100) of pixels to remove (Quantus: 1, 3, ..., 99).
        order: ``"morf"`` (most relevant first: descending attribution) or ``"lerf"`` (ascending);
            ties by lowest flat pixel index in both.
        noise: std of the imputation noise (Quantus default 0.01).
        seed: Philox seed for the noise (draws keyed by pixel, percentage index, example and order:
            independent of ``max_batch``); None: global torch RNG.
        max_batch: (example, percentage) pairs imputed (one batched solve) and scored per chunk. On a GPU
            use large chunks; on a CPU 1-4 is fastest (the solver's vectors stay in cache).
        tol, max_iter: solver settings (see ``noisy_linear_imputation``).
    Returns:
        ``RoadCurve`` (``correct`` / ``score`` (N, Q), ``base_score`` (N,)).
    """
    if order not in ("morf", "lerf"):
        raise InputError(f"order must be morf|lerf, got {order!r}")
    check_count("max_batch", max_batch)
    check_count("max_iter", max_iter)
    if not (noise >= 0 and math.isfinite(noise)):
        raise InputError(f"noise must be a finite number >= 0, got {noise!r}")
    pct = tuple(float(p) for p in percentages)
    for p in pct:
        if not 0 <= p < 100:
            raise InputError(f"percentages must be in [0, 100) (at least one pixel is kept), got {p}")
    tgt, a = pixel_attributions(forward_func, inputs, attributions, target)
    n, c, h, w = inputs.shape
    ks = tuple(int(h * w * p / 100) for p in pct)
    q = len(ks)
    ranks = pixel_ranks(a, "most" if order == "morf" else "least").reshape(n, h, w).to(inputs.device)
    k_t = torch.tensor(ks, device=inputs.device)
    stream = ROAD_STREAM + (2 if order == "lerf" else 0)
    correct = torch.zeros(n * q, dtype=torch.bool)
    score = torch.zeros(n * q, dtype=torch.float64)
    tgt_cpu = tgt.cpu()
    with torch.no_grad():
        base = forward_func(inputs).gather(1, tgt.view(-1, 1))[:, 0].to(torch.float64).cpu()
        for lo in range(0, n * q, max_batch):
            flat = torch.arange(lo, min(lo + max_batch, n * q))
            ex, j = flat // q, flat % q
            ex_d, j_d = ex.to(inputs.device), j.to(inputs.device)
            remove = ranks[ex_d] < k_t[j_d].view(-1, 1, 1)
            imgs = noisy_linear_imputation(inputs[ex_d], remove, noise=noise, seed=seed, example=ex, sample=j,
                                           stream=stream, tol=tol, max_iter=max_iter)
            out = forward_func(imgs)
            t = tgt_cpu[ex]
            correct[flat] = out.argmax(1).cpu() == t
            score[flat] = out.gather(1, t.to(out.device).view(-1, 1))[:, 0].to(torch.float64).cpu()
    return RoadCurve(pct, ks, order, tgt_cpu, correct.view(n, q), score.view(n, q), base)


def road_combined(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attributions: Attributions,
    *,
    percentages: Sequence[float] = tuple(range(10, 100, 10)),
    **kwargs: Any,
) -> torch.Tensor:
    """pytorch-grad-cam ``ROADCombined``: mean over percentages of (LeRF change - MoRF change) / 2.

    Change = target output after imputation - before (``RoadCurve.score_change``); higher is better.
    Attributions given as an explainer are computed once. kwargs: as ``road_curve``.
    Returns:
        (N,) float64.
    """
    tgt, a = pixel_attributions(forward_func, inputs, attributions, kwargs.pop("target", None))
    morf = road_curve(forward_func, inputs, a, target=tgt, percentages=percentages, order="morf", **kwargs)
    lerf = road_curve(forward_func, inputs, a, target=tgt, percentages=percentages, order="lerf", **kwargs)
    return combine_road(morf, lerf)


def combine_road(morf: RoadCurve, lerf: RoadCurve) -> torch.Tensor:
    """(N,) mean over percentages of (LeRF change - MoRF change) / 2 from two curves on the same percentages."""
    if morf.percentages != lerf.percentages or morf.order != "morf" or lerf.order != "lerf":
        raise InputError("combine_road needs a MoRF and a LeRF curve over the same percentages")
    return ((lerf.score_change - morf.score_change) / 2).mean(1)
