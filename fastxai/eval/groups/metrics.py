"""Metric definitions for group reports: statistics in, (B, G) values out.

Each built-in metric is computed from per-group sufficient statistics (``groups.stats``):
weighted confusion cells [tn, fp, fn, tp], calibration bins, squared/log-loss sums, a
sort-once AUROC. A value is *undefined* where its denominator is empty; what is done then
(NaN + warning, or a fill value) is decided by the caller (``zero_division``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from fastxai.eval.groups import stats as S

TN, FP, FN, TP = 0, 1, 2, 3


@dataclass(frozen=True)
class RateSpec:
    """num / den over confusion cells; ``reason`` says why den can be 0."""

    num: Tuple[int, ...]
    den: Tuple[int, ...]
    reason: str
    higher_is_better: Optional[bool]


RATES: Dict[str, RateSpec] = {
    "accuracy": RateSpec((TN, TP), (TN, FP, FN, TP), "empty group", True),
    "tpr": RateSpec((TP,), (FN, TP), "no positives", True),
    "fnr": RateSpec((FN,), (FN, TP), "no positives", False),
    "fpr": RateSpec((FP,), (TN, FP), "no negatives", False),
    "tnr": RateSpec((TN,), (TN, FP), "no negatives", True),
    "ppv": RateSpec((TP,), (FP, TP), "no predicted positives", True),
    "selection_rate": RateSpec((FP, TP), (TN, FP, FN, TP), "empty group", None),
}
ALIASES = {"sensitivity": "tpr", "recall": "tpr", "specificity": "tnr", "precision": "ppv",
           "true_positive_rate": "tpr", "false_positive_rate": "fpr", "false_negative_rate": "fnr",
           "true_negative_rate": "tnr", "roc_auc": "auroc", "brier_score": "brier", "log_loss": "nll"}
SCORE_METRICS = ("auroc", "auroc_binned", "auroc_binned_bound", "ece", "ece_data_range", "brier", "nll")
BUILTIN = tuple(RATES) + ("balanced_accuracy", "count") + SCORE_METRICS
HIGHER_IS_BETTER: Dict[str, Optional[bool]] = {
    **{k: v.higher_is_better for k, v in RATES.items()},
    "balanced_accuracy": True, "count": None, "auroc": True, "auroc_binned": True, "auroc_binned_bound": None,
    "ece": False, "ece_data_range": False, "mae": False, "rmse": False, "score": True,
    "brier": False, "nll": False,
}


class ScoreMetric:
    """Wrap a user callable ``fn(y_true, y_score, [sample_weight=])`` so it receives scores, not decisions."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "score_metric")

    def __call__(self, *args, **kwargs):  # noqa: D102
        return self.fn(*args, **kwargs)


TPR_AT_SPEC = "tpr_at_spec_"
TPR_AT_SPEC_INTERP = "tpr_at_spec_interp_"


def is_interp(name: str) -> bool:
    """True for MEDFAIR's interpolated ``tpr_at_spec_interp_<s>``."""
    return name.startswith(TPR_AT_SPEC_INTERP)


def spec_level(name: str) -> float:
    """The specificity level s of a ``tpr_at_spec_<s>`` / ``tpr_at_spec_interp_<s>`` metric name."""
    return float(name[len(TPR_AT_SPEC_INTERP if is_interp(name) else TPR_AT_SPEC):])


def spec_key(name: str) -> str:
    """The statistics key of a TPR-at-specificity metric name (level normalised: 0.80 -> 0.8)."""
    return f"{TPR_AT_SPEC_INTERP if is_interp(name) else TPR_AT_SPEC}{spec_level(name)}"


def is_score_metric(name: str) -> bool:
    """True if the built-in metric needs scores (not decisions)."""
    return name in SCORE_METRICS or name.startswith(TPR_AT_SPEC)


def higher_is_better(name: str) -> Optional[bool]:
    """Direction of a metric (None: neither, e.g. selection rate); callables: True."""
    return True if name.startswith(TPR_AT_SPEC) else HIGHER_IS_BETTER.get(name, True)


def canonical(name: str) -> str:
    """Built-in metric name after aliases; raises for unknown names.

    ``tpr_at_spec_<s>`` (e.g. ``tpr_at_spec_0.8``): largest TPR at specificity >= s (torchmetrics semantics);
    ``tpr_at_spec_interp_<s>``: MEDFAIR's ``interp1d(1 - fpr, tpr)(s)`` on sklearn's ``roc_curve``.
    """
    key = ALIASES.get(name, name)
    if key.startswith(TPR_AT_SPEC):
        try:
            level = spec_level(key)
        except ValueError:
            level = -1.0
        if not 0 <= level <= 1:
            raise ValueError(f"{name!r}: the specificity level must be a number in [0, 1]")
        return key
    if key not in BUILTIN:
        raise ValueError(f"unknown metric {name!r}; built-ins: {BUILTIN} (or pass a callable)")
    return key


def needs(names) -> Dict[str, bool]:
    """Which statistics the metric names require."""
    return {
        "conf": True,
        "cal": "ece" in names,
        "hist": "auroc_binned" in names or "auroc_binned_bound" in names,
        "sq": "brier" in names or "nll" in names,
        "auroc": "auroc" in names,
        "tpr_at_spec": sorted({spec_level(n) for n in names if n.startswith(TPR_AT_SPEC) and not is_interp(n)}),
        "tpr_at_spec_interp": sorted({spec_level(n) for n in names if is_interp(n)}),
        "ece_data_range": "ece_data_range" in names,
    }


def row_stats(y: torch.Tensor, yhat: torch.Tensor, score: Optional[torch.Tensor], codes: torch.Tensor,
              n_groups: int, M: torch.Tensor, sw: torch.Tensor, need: Dict[str, bool], n_bins: int,
              data_range_bins: int, plan: Optional[S.AurocPlan] = None, auroc_bins: int = 1000,
              eps=None) -> Dict[str, torch.Tensor]:
    """Sufficient statistics for multiplicities M (B, N) and sample weights sw (N,) -> dict of (B, G, ...).

    ``eps``: NLL clipping epsilon (float or (N,) per row; see ``stats.squared_and_log_loss``)."""
    W = M.to(torch.float64) * sw
    st = {"count": S.group_sums(codes, n_groups, M.to(torch.float64)),
          "conf": S.confusion(codes, n_groups, y, yhat, W)}
    if need["cal"]:
        st["cal"] = S.calibration_bins(codes, n_groups, y, score, W, n_bins)
    if need["sq"]:
        st["sq"] = S.squared_and_log_loss(codes, n_groups, y, score, W, eps)
    if need["hist"]:
        st["hist"] = S.score_histogram(codes, n_groups, y, score, W, auroc_bins)
    if need["auroc"] or need["tpr_at_spec"] or need.get("tpr_at_spec_interp"):
        plan = plan or S.auroc_plan(codes, n_groups, score)
    if need["auroc"]:
        st["auroc"] = S.auroc(plan, y, W)
    for level in need["tpr_at_spec"]:
        st[f"{TPR_AT_SPEC}{level}"] = S.tpr_at_specificity(plan, y, W, level)
    for level in need.get("tpr_at_spec_interp", []):
        st[f"{TPR_AT_SPEC_INTERP}{level}"] = S.tpr_at_specificity_interp(plan, y, W, level)
    if need["ece_data_range"]:
        st["ece_data_range"] = S.ece_data_range(codes, n_groups, y, score, W, data_range_bins)
    return st


def overall_from_group_stats(st: Dict[str, torch.Tensor], n_control: int = 1) -> Dict[str, torch.Tensor]:
    """Sum-able statistics summed over the sensitive groups of each control level (G = C * S -> C).

    AUROC / data-range ECE are not sum-able (computed from rows instead)."""
    out = {}
    for k, v in st.items():
        if k in ("count", "conf", "cal", "sq", "hist"):
            out[k] = v.reshape(v.shape[0], n_control, v.shape[1] // n_control, *v.shape[2:]).sum(2)
    return out


def values(name: str, st: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, str]:
    """(value (B, G) with NaN where undefined, undefined mask (B, G), reason) for a built-in metric."""
    count = st["count"]
    empty = count == 0
    conf = st["conf"]
    nan = torch.full_like(count, float("nan"))
    if name in RATES:
        spec = RATES[name]
        num = conf[..., list(spec.num)].sum(-1)
        den = conf[..., list(spec.den)].sum(-1)
        undefined = (den == 0) & ~empty
        return torch.where(den > 0, num / den, nan), undefined, spec.reason
    if name == "balanced_accuracy":  # sklearn: mean recall over classes present
        tpr, _, _ = values("tpr", st)
        tnr, _, _ = values("tnr", st)
        both = torch.stack([tpr, tnr], -1)
        return torch.nanmean(both, -1), torch.zeros_like(empty), "empty group"
    if name == "count":  # fairlearn: an empty intersection (or a group absent from a replicate) is NaN
        return torch.where(empty, nan, count), torch.zeros_like(empty), ""
    if name == "auroc" or name.startswith(TPR_AT_SPEC):
        v = st["auroc" if name == "auroc" else spec_key(name)]
        return v, torch.isnan(v) & ~empty, "only one class"
    if name in ("auroc_binned", "auroc_binned_bound"):
        auc, bound = S.auroc_from_histogram(st["hist"])
        v = auc if name == "auroc_binned" else bound
        return v, torch.isnan(v) & ~empty, "only one class"
    if name == "ece":
        return S.ece_from_bins(st["cal"]), torch.zeros_like(empty), "empty group"
    if name == "ece_data_range":
        return torch.where(empty, nan, st["ece_data_range"]), torch.zeros_like(empty), "empty group"
    if name in ("brier", "nll"):
        sq = st["sq"]
        j = 1 if name == "brier" else 2
        return torch.where(sq[..., 0] > 0, sq[..., j] / sq[..., 0], nan), torch.zeros_like(empty), "empty group"
    raise ValueError(name)
