"""Plain-language wording of a :class:`~fastxai.report.stats.Comparison`, never stronger than its CI.

Three strengths, decided only by the CI and the FDR-adjusted q-value:
* ``clear``: the CI excludes zero and q < alpha -> "X is 0.12 lower for ...";
* ``uncorrected``: the CI excludes zero but q >= alpha -> "... but this does not survive false
  discovery rate control across the report's N comparisons";
* ``unclear``: the CI includes zero -> "no clear difference ... the interval includes zero"; when
  it cannot be computed (a group without values) the sentence says "not measurable" and the count.
"""
from __future__ import annotations

import math

from fastxai.report.stats import Comparison

METRIC_NAMES = {
    "pointing_game": "pointing-game hit rate", "energy_pointing_game": "energy pointing game",
    "relevance_mass_accuracy": "relevance mass accuracy", "relevance_rank_accuracy": "relevance rank accuracy",
    "attribution_localisation": "attribution localisation", "heatmap_auroc": "heat-map AUROC",
    "top_k_intersection": "top-k intersection", "iou": "IoU", "miou": "mIoU", "saporta_iou": "IoU",
    "deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC", "tpr": "sensitivity",
    "tnr": "specificity", "fpr": "false-positive rate", "ppv": "PPV", "accuracy": "accuracy", "auroc": "AUROC", "ece": "calibration error (ECE)",
    "border_share": "share of attribution on the image border",
    "border_mass": "share of attribution on the image border", "hit_rate": "hit rate (cheXlocalize)",
    "iou_otsu": "IoU (Otsu)", "relevance_mass": "relevance mass accuracy", "relevance_rank": "relevance rank accuracy",
    "sparseness": "sparseness (Gini)", "complexity": "complexity (entropy)",
}
LOWER_IS_BETTER = ("deletion", "ece", "fpr", "fnr", "brier", "nll", "complexity", "border")


def metric_label(metric: str) -> str:
    """Readable metric name (the raw name when unknown)."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def higher_is_better(metric: str) -> bool:
    """Direction of a metric by name (deletion AUC, ECE, error rates: lower is better)."""
    m = metric.lower()
    return not any(k in m for k in LOWER_IS_BETTER)


def num(x: float, digits: int = 2) -> str:
    """A number for prose: fixed digits, a real minus sign, "n/a" for NaN."""
    if x is None or not math.isfinite(x):
        return "n/a"
    s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace("-", "\u2212")


def ci_text(c: Comparison, level: float = 0.95) -> str:
    """'95 % CI 0.05 to 0.19' (the interval of the difference; 3 decimals where 2 would show a
    non-zero bound as 0.00)."""
    d = 3 if any(math.isfinite(v) and v != 0 and abs(v) < 0.005 for v in (c.ci_low, c.ci_high)) else 2
    return f"{round(100 * level)} % CI {num(c.ci_low, d)} to {num(c.ci_high, d)}"


def strength(c: Comparison, alpha: float = 0.05) -> str:
    """'clear' | 'uncorrected' | 'unclear' (see the module docstring)."""
    if not c.excludes_zero:
        return "unclear"
    return "clear" if (math.isfinite(c.q) and c.q < alpha) else "uncorrected"


def qualifier(c: Comparison, n_tests: int, alpha: float = 0.05) -> str:
    """The CI and how sure the statement is, for inside a parenthesis."""
    if not (math.isfinite(c.estimate) and math.isfinite(c.ci_low) and math.isfinite(c.ci_high)):
        return f"not measurable: too few samples with a value, n = {c.n} in the group"
    s = strength(c, alpha)
    if s == "clear":
        return f"{ci_text(c)}; q = {num(c.q, 3)} after FDR control over {n_tests} comparisons"
    if s == "uncorrected":
        return (f"{ci_text(c)}, but this does not survive false discovery rate control across the "
                f"report's {n_tests} comparisons: q = {num(c.q, 3)}")
    return f"{ci_text(c)}, which includes zero: no difference is shown"


def gap_sentence(what: str, c: Comparison, this: str, other: str, n_tests: int, alpha: float = 0.05) -> str:
    """'{What} is 0.12 lower for {this} than for {other} (0.70 vs 0.82; difference −0.12, 95 % CI ...)'."""
    if not math.isfinite(c.estimate):
        return (f"{what[0].upper() + what[1:]} cannot be compared between {this} and {other}: {num(c.a)} vs "
                f"{num(c.b)} ({qualifier(c, n_tests, alpha)}).")
    if strength(c, alpha) == "unclear":
        return (f"No clear difference in {what} between {this} and {other}: {num(c.a)} vs {num(c.b)} "
                f"(difference {num(c.estimate)}, {qualifier(c, n_tests, alpha)}).")
    word = "lower" if c.estimate < 0 else "higher"
    cap = what[0].upper() + what[1:]
    return (f"{cap} is {num(abs(c.estimate))} {word} for {this} than for {other} ({num(c.a)} vs {num(c.b)}; "
            f"difference {num(c.estimate)}, {qualifier(c, n_tests, alpha)}).")


def versus_sentence(method: str, base: str, metric: str, c: Comparison, n_tests: int, alpha: float = 0.05) -> str:
    """One method against one baseline on one metric, direction-aware."""
    better = (c.estimate > 0) == higher_is_better(metric)
    if strength(c, alpha) == "unclear":
        return (f"{method} vs {base} on {metric_label(metric)}: {num(c.a)} vs {num(c.b)} (difference "
                f"{num(c.estimate)}, {qualifier(c, n_tests, alpha)}).")
    verdict = "better than" if better else "worse than"
    return (f"{method} scores {verdict} {base} on {metric_label(metric)}: {num(c.a)} vs {num(c.b)} (difference "
            f"{num(c.estimate)}, {qualifier(c, n_tests, alpha)}).")


def is_localisation(metric: str) -> bool:
    """Localisation metrics (against boxes / masks), as opposed to faithfulness curves."""
    return not any(k in metric for k in ("deletion", "insertion", "road", "faithfulness", "infidelity"))
