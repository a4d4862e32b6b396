"""Functional group API: ``group_report`` (fairlearn ``MetricFrame``-like), ``scores_by_group``,
``regression_report`` and fairlearn's derived fairness functions."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from fastxai.eval.errors import InputError, check_finite, check_same_n
from fastxai.eval.groups import stats as S
from fastxai.eval.groups.bootstrap import check_bootstrap, multiplicities
from fastxai.eval.groups.encoding import encode_groups
from fastxai.eval.groups.inputs import flat_tensor
from fastxai.eval.groups.report import GroupReport
from fastxai.eval.groups.state import DEFAULT_METRICS, GroupMetrics, MetricArg

# --------------------------------------------------------------------------- functional API


def group_report(y_true: Any, y_pred: Any = None, *, y_score: Any = None, sensitive_features: Any,
                 control_features: Any = None,
                 metrics: Sequence[MetricArg] = DEFAULT_METRICS, sample_weight: Any = None,
                 n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                 random_state: Optional[int] = None, bootstrap: str = "fairlearn", missing_group: Optional[str] = None,
                 **options: Any) -> GroupReport:
    """Compute group metrics in one call (fairlearn ``MetricFrame``-like).

    Args:
        y_true: (N,) binary labels. y_pred: (N,) decisions, or None to threshold ``y_score``.
        y_score: (N,) probabilities of the positive class.
        sensitive_features: (N,), (N, F), list/dict of (N,) columns or a DataFrame; groups are
            the Cartesian product of the features' levels.
        metrics: built-in names or callables (see ``GroupMetrics``).
        control_features: like ``sensitive_features``; metrics are then broken down within each
            control level and overall / min / max / difference / ratio are per control level.
        sample_weight: (N,) non-negative weights.
        n_boot, ci_quantiles, random_state, bootstrap: bootstrap CIs (``fairlearn`` or ``stratified``;
            ``n_boot`` >= 1 and ``ci_quantiles`` in (0, 1) are given together, as fairlearn).
        missing_group: None (default): missing sensitive / control values raise ``InputError`` naming the
            feature and the number of rows; a label: they form a group of that name.
        options: ``threshold``, ``pos_label``, ``zero_division``, ``min_group_size``, ``n_bins``,
            ``data_range_bins`` (see ``GroupMetrics``).
    Returns:
        ``GroupReport``.
    """
    boot = check_bootstrap(n_boot, ci_quantiles, bootstrap)
    codes, groups, names = encode_groups(sensitive_features, missing_group)
    controls = None
    if control_features is not None:
        c_codes, controls, c_names = encode_groups(control_features, missing_group)
        check_same_n(sensitive_features=codes, control_features=c_codes)
        codes = c_codes * len(groups) + codes
        groups = [c + g for c in controls for g in groups]
        names = c_names + names
    gm = GroupMetrics(groups, metrics, feature_names=names, keep_rows=boot, controls=controls, **options)
    gm.update(y_true, y_score=y_score, y_pred=y_pred, groups=codes, sample_weight=sample_weight)
    return gm.compute(n_boot=n_boot, ci_quantiles=ci_quantiles, random_state=random_state, bootstrap=bootstrap)


def _mean_report(series: Dict[str, torch.Tensor], ok: torch.Tensor, sw: torch.Tensor, codes: torch.Tensor,
                 groups: List[Tuple], names: List[str], post: Dict[str, Callable[[torch.Tensor], torch.Tensor]],
                 n_boot: Optional[int], ci_quantiles: Sequence[float], random_state: Optional[int],
                 bootstrap: str) -> GroupReport:
    """Weighted per-group means of per-row values (rows with ``ok`` False skipped), optionally
    transformed by ``post[name]`` (e.g. sqrt for RMSE), plus ``count``; bootstrap as ``group_report``."""
    G = len(groups)
    labels = list(series) + ["count"]
    boot = check_bootstrap(n_boot, ci_quantiles, bootstrap)
    rows_in = S.group_sums(codes, G, torch.ones(1, codes.numel(), dtype=torch.float64))[0]

    def table(M: torch.Tensor, overall: bool) -> Dict[str, torch.Tensor]:
        c, g = (torch.zeros_like(codes), 1) if overall else (codes, G)
        wt = S.group_sums(c, g, M * sw * ok)
        present = S.group_sums(c, g, M) > 0  # an empty intersection / absent group: count NaN (fairlearn)
        out = {"count": torch.where(present, S.group_sums(c, g, M * ok), torch.full_like(wt, float("nan")))}
        for k, v in series.items():
            mean = S.group_sums(c, g, M * sw * torch.where(ok, v, torch.zeros_like(v))) / wt.clamp(min=1e-300)
            mean = torch.where(wt > 0, mean, torch.full_like(mean, float("nan")))
            out[k] = post.get(k, lambda t: t)(mean)
        return out

    ones = torch.ones(1, codes.numel(), dtype=torch.float64)
    by, ov = table(ones, False), table(ones, True)
    reps = None
    if boot:
        acc: Dict[str, List[Tuple[torch.Tensor, torch.Tensor]]] = {k: [] for k in labels}
        for M in multiplicities(codes.numel(), n_boot, random_state=random_state, mode=bootstrap, codes=codes):
            b, o = table(M, False), table(M, True)
            for k in labels:
                acc[k].append((o[k], b[k]))
        reps = {k: (torch.cat([x for x, _ in v]), torch.cat([y for _, y in v])) for k, v in acc.items()}
    return GroupReport(labels, groups, names, {k: ov[k][0] for k in labels}, {k: by[k][0] for k in labels},
                       rows_in, reps, ci_quantiles)


def scores_by_group(scores: Any, *, sensitive_features: Any, name: str = "score",
                    n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                    random_state: Optional[int] = None, bootstrap: str = "fairlearn",
                    missing_group: Optional[str] = None) -> GroupReport:
    """Mean of per-sample scores per group (NaN scores skipped), e.g. localisation scores by sex.

    Args:
        scores: (N,) per-sample values (e.g. ``fastxai.eval.pointing_game(...)``, or per-sample Dice
            from ``overlap_at_thresholds(..., measure="dice")``).
        sensitive_features: as in ``group_report``.
    Returns:
        ``GroupReport`` with metrics ``name`` (mean over samples with a defined score) and
        ``count`` (samples with a defined score); bootstrap CIs as in ``group_report``.
    """
    codes, groups, names = encode_groups(sensitive_features, missing_group)
    s = flat_tensor(scores, "scores").to(torch.float64)
    check_same_n(scores=s, sensitive_features=codes)
    if bool(torch.isinf(s).any()):
        raise InputError(f"scores has Inf at rows {torch.nonzero(torch.isinf(s)).flatten()[:10].tolist()}")
    return _mean_report({name: s}, ~torch.isnan(s), torch.ones_like(s), codes, groups, names, {},
                        n_boot, ci_quantiles, random_state, bootstrap)


def regression_report(y_true: Any, y_pred: Any, *, sensitive_features: Any, sample_weight: Any = None,
                      n_boot: Optional[int] = None, ci_quantiles: Sequence[float] = (),
                      random_state: Optional[int] = None, bootstrap: str = "fairlearn",
                      missing_group: Optional[str] = None) -> GroupReport:
    """MAE and RMSE by group for regression outputs (weighted as sklearn's ``mean_absolute_error`` /
    ``root_mean_squared_error``). y_true, y_pred, sample_weight: (N,). Metrics: mae, rmse, count."""
    codes, groups, names = encode_groups(sensitive_features, missing_group)
    yt, yp = flat_tensor(y_true, "y_true").to(torch.float64), flat_tensor(y_pred, "y_pred").to(torch.float64)
    w = flat_tensor(sample_weight, "sample_weight")
    check_same_n(y_true=yt, y_pred=yp, sensitive_features=codes, sample_weight=w)
    check_finite("y_true", yt[:, None])
    check_finite("y_pred", yp[:, None])
    w = torch.ones_like(yt) if w is None else w.to(torch.float64)
    if not bool((torch.isfinite(w) & (w >= 0)).all()):
        raise InputError("sample_weight must be finite and non-negative")
    e = yp - yt
    return _mean_report({"mae": e.abs(), "rmse": e * e}, torch.ones_like(e, dtype=torch.bool), w, codes, groups,
                        names, {"rmse": torch.sqrt}, n_boot, ci_quantiles, random_state, bootstrap)


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                  sample_weight=None, **options) -> float:
    """Selection-rate difference between groups (fairlearn semantics)."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["selection_rate"],
                        sample_weight=sample_weight, **options).difference(method)["selection_rate"]


def demographic_parity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                             sample_weight=None, **options) -> float:
    """Selection-rate ratio between groups (fairlearn semantics)."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["selection_rate"],
                        sample_weight=sample_weight, **options).ratio(method)["selection_rate"]


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                              sample_weight=None, agg="worst_case", **options) -> float:
    """max (or mean) of the TPR and FPR differences. fairlearn's value needs ``zero_division=0.0``."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr", "fpr"],
                        sample_weight=sample_weight, **options).equalized_odds(method, agg)[0]


def equalized_odds_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                         sample_weight=None, agg="worst_case", **options) -> float:
    """min (or mean) of the TPR and FPR ratios."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr", "fpr"],
                        sample_weight=sample_weight, **options).equalized_odds(method, agg)[1]


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                 sample_weight=None, **options) -> float:
    """TPR difference between groups."""
    return group_report(y_true, y_pred, sensitive_features=sensitive_features, metrics=["tpr"],
                        sample_weight=sample_weight, **options).difference(method)["tpr"]

