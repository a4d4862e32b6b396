"""fastxai.eval: vectorised evaluation of explanations and group (fairness) metrics.

Modules (one job each): ``state`` (mergeable metric states), ``boxes`` (rasterisation),
``inputs`` (input rules), ``localisation`` / ``overlap`` (heat map vs annotation scores),
``faithfulness`` (deletion / insertion, faithfulness correlation, sparseness, complexity), ``road`` (ROAD with
batched noisy linear imputation), ``otsu`` (cheXlocalize Otsu binarisation), ``randomisation`` (MPRT),
``groups`` (a package: ``group_report``, ``GroupMetrics``, ``GroupReport`` and their engine).
See docs/evaluator.md for the semantics fixed here.
"""
from fastxai.eval.boxes import boxes_to_mask
from fastxai.eval.errors import InputError
from fastxai.eval.faithfulness import (
    complexity, curve_auc, deletion_auc, deletion_curve, faithfulness_correlation, insertion_auc, sparseness,
)
from fastxai.eval.groups import (
    GroupMetrics, GroupMetricWarning, GroupReport, ScoreMetric, demographic_parity_difference,
    demographic_parity_ratio, equal_opportunity_difference, equalized_odds_difference, equalized_odds_ratio,
    group_report, regression_report, scores_by_group,
)
from fastxai.eval.localisation import (
    AttributionLocalisation, EnergyPointingGame, HeatmapAUROC, PointingGame, RelevanceMassAccuracy,
    RelevanceRankAccuracy, TopKIntersection, attribution_localisation, energy_pointing_game, heatmap_auroc,
    pointing_game, relevance_mass_accuracy, relevance_rank_accuracy, top_k_intersection,
)
from fastxai.eval.overlap import (
    MeanIoU, OverlapAtThresholds, OverlapAtTopK, overlap_at_thresholds, overlap_at_top_k, saporta_iou,
)
from fastxai.eval.otsu import otsu_masks, otsu_threshold, saporta_iou_otsu, uint8_levels
from fastxai.eval.randomisation import model_parameter_randomisation, spearman
from fastxai.eval.road import RoadCurve, combine_road, noisy_linear_imputation, road_combined, road_curve
from fastxai.eval.state import MeanMetric, Metric

__all__ = [
    "Metric", "MeanMetric", "InputError", "boxes_to_mask",
    "pointing_game", "energy_pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy",
    "top_k_intersection", "attribution_localisation", "heatmap_auroc",
    "PointingGame", "EnergyPointingGame", "RelevanceMassAccuracy", "RelevanceRankAccuracy", "TopKIntersection",
    "AttributionLocalisation", "HeatmapAUROC",
    "overlap_at_thresholds", "overlap_at_top_k", "saporta_iou", "OverlapAtThresholds", "OverlapAtTopK", "MeanIoU",
    "deletion_curve", "deletion_auc", "insertion_auc", "curve_auc", "faithfulness_correlation", "sparseness", "complexity",
    "group_report", "scores_by_group", "regression_report", "GroupReport", "GroupMetrics", "GroupMetricWarning", "ScoreMetric",
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
    "equalized_odds_ratio", "equal_opportunity_difference", "model_parameter_randomisation", "spearman",
    "road_curve", "road_combined", "combine_road", "RoadCurve", "noisy_linear_imputation",
    "otsu_threshold", "otsu_masks", "saporta_iou_otsu", "uint8_levels",
]
