"""Group (fairness) metrics, fairlearn ``MetricFrame``-like, vectorised and mergeable.

Package layout (one job per module):

* ``functional``: ``group_report``, ``scores_by_group``, ``regression_report`` and fairlearn's derived
  fairness functions (``demographic_parity_difference`` ...): the public entry points.
* ``state``: ``GroupMetrics``, the streaming state (update / compute / merge / sync) behind them.
* ``report``: ``GroupReport``, the result (fairlearn's aggregations, CIs, tables).
* ``inputs``: labels, scores, weights as flat tensors; ``encoding``: sensitive features -> group codes.
* ``metrics``: metric definitions (statistics in, (B, G) values out); ``stats``: the per-group
  sufficient statistics; ``aggregates``: min / max / difference / ratio over groups.
* ``bootstrap``: resamples as multiplicity matrices (fairlearn's exact resamples or stratified).
"""
from fastxai.eval.groups.functional import (
    demographic_parity_difference, demographic_parity_ratio, equal_opportunity_difference, equalized_odds_difference,
    equalized_odds_ratio, group_report, regression_report, scores_by_group,
)
from fastxai.eval.groups.inputs import best_f1_threshold
from fastxai.eval.groups.metrics import ScoreMetric
from fastxai.eval.groups.report import GroupReport
from fastxai.eval.groups.state import GroupMetrics, GroupMetricWarning

__all__ = [
    "GroupMetrics", "GroupReport", "GroupMetricWarning", "ScoreMetric", "group_report",
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
    "equalized_odds_ratio", "equal_opportunity_difference", "best_f1_threshold", "scores_by_group",
    "regression_report",
]
