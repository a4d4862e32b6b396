"""The report's tables, as plain :class:`Table` objects the template renders (all cells are text,
escaped by the template).

* ``method_metric_table``: method × metric, mean with 95 % CI, the trivial baselines beside the
  methods (from the bench's aggregates, or patient-bootstrapped from the per-sample scores);
* ``method_group_table``: method × group for one metric, with gap (max − min), ratio (min / max)
  and worst group — ``fastxai.eval.scores_by_group`` for the numbers when the bench gave none;
* ``model_group_table``: the classifier's accuracy / sensitivity / specificity / AUROC / ECE by
  group (``fastxai.eval.group_report``, its bootstrap CIs).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from fastxai.report import wording as W
from fastxai.report.data import RunData, is_baseline

CLASSIFIER_METRICS = ("accuracy", "tpr", "tnr", "auroc", "ece")


@dataclass
class Table:
    """id (HTML anchor), caption, column names, rows of cell strings, per-row CSS class, note."""

    id: str
    caption: str
    columns: List[str]
    rows: List[List[str]] = field(default_factory=list)
    row_classes: List[str] = field(default_factory=list)
    note: str = ""
    values: Dict[str, Any] = field(default_factory=dict)  # numbers behind the cells, for figures


def fmt_ci(v: float, lo: float, hi: float) -> str:
    """'0.62 [0.55, 0.70]' (value and CI; 'n/a' for NaN)."""
    if not np.isfinite(v):
        return "n/a"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{W.num(v)} [{W.num(lo)}, {W.num(hi)}]"
    return W.num(v)


def _agg_rows(data: RunData, model: str, metric: str, feature: str, target: str = "all") -> Any:
    """The bench's aggregate rows of one model / metric / group feature (pooled classes by default)."""
    a = data.aggregates
    if not len(a):
        return a
    a = a[(a["model"] == model) & (a["metric"] == metric) & (a["group_feature"].astype(str) == feature)]
    if "target" in a.columns:
        a = a[a["target"].astype(str) == str(target)]
    return a


def method_metric_table(data: RunData, model: str, boot: Any, sample_ids: Sequence, tid: str) -> Table:
    """Rows: methods then baselines; columns: every metric (mean [95 % CI]) and n."""
    metrics = data.metrics(model)
    methods = data.methods(model) + data.methods(model, baselines=True)
    cols = ["method"] + [W.metric_label(m) for m in metrics]
    t = Table(tid, f"{model}: every method and trivial baseline on every metric (mean [95 % CI])", cols)
    cache = {m: data.score_matrix(model, m, sample_ids) for m in metrics}
    for meth in methods:
        row = [meth]
        for metric in metrics:
            agg = _agg_rows(data, model, metric, "all")
            agg = agg[agg["method"] == meth] if len(agg) else agg
            if len(agg):
                r = agg.iloc[0]
                row.append(fmt_ci(float(r["value"]), float(r["ci_low"]), float(r["ci_high"])))
            elif meth in cache[metric]:
                c = boot.mean(f"{model}|{meth}|{metric}", cache[metric][meth])
                row.append(fmt_ci(c.estimate, c.ci_low, c.ci_high))
            else:
                row.append("n/a")
        t.rows.append(row)
        t.row_classes.append("baseline" if is_baseline(meth) else "")
    src = "the bench's aggregates" if len(data.aggregates) else "a patient-level bootstrap of the per-sample scores"
    t.note = f"95 % CIs from {src}. Shaded rows are the trivial baselines every method must beat."
    return t


def _group_values(data: RunData, model: str, metric: str, feature: str, meth: str,
                  scores: Optional[np.ndarray], groups: Optional[np.ndarray], n_boot: int) -> Dict[str, tuple]:
    """group -> (value, ci_low, ci_high, n), from the aggregates or scores_by_group."""
    agg = _agg_rows(data, model, metric, feature)
    agg = agg[agg["method"] == meth] if len(agg) else agg
    if len(agg):
        return {str(r["group"]): (float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"]))
                for _, r in agg.iterrows()}
    if scores is None or groups is None:
        return {}
    import fastxai.eval as fe

    keep = np.array([g is not None for g in groups])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = fe.scores_by_group(scores[keep], sensitive_features=[str(g) for g in groups[keep]], name="s",
                                 n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
    lo, hi = rep.by_group_ci()["s"]
    return {str(g[0]): (float(rep.by_group["s"][i]), float(lo[i]), float(hi[i]), int(rep.by_group["count"][i]))
            for i, g in enumerate(rep.groups)}


def method_group_table(data: RunData, model: str, metric: str, samples: Any, sample_ids: Sequence,
                       tid: str, n_boot: int = 200, min_group_size: int = 0) -> Table:
    """Rows: methods then baselines; per group feature its groups' values, gap, ratio, worst group.
    Groups with fewer than ``min_group_size`` scored samples are shown but left out of gap, ratio
    and worst group (one image must not make the worst group)."""
    features = data.group_columns
    mat = data.score_matrix(model, metric, sample_ids)
    methods = [m for m in data.methods(model) + data.methods(model, baselines=True) if m in mat]
    hib = W.higher_is_better(metric)
    cols, rows = ["method"], {m: [m] for m in methods}
    values: Dict[str, Any] = {}
    for f in features:
        gvals = samples[f].astype(object).where(samples[f].notna(), None).to_numpy()
        per = {m: _group_values(data, model, metric, f, m, mat[m], gvals, n_boot) for m in methods}
        values[f] = per
        names = sorted({g for v in per.values() for g in v})
        cols += [f"{f} = {g}" for g in names] + [f"{f}: gap", f"{f}: ratio", f"{f}: worst"]
        for m in methods:
            vals = {g: per[m].get(g, (np.nan, np.nan, np.nan, 0)) for g in names}
            rows[m] += [fmt_ci(*vals[g][:3]) + f" (n={vals[g][3]})" for g in names]
            rows[m] += _gap_cells(vals, hib, min_group_size)
    t = Table(tid, f"{model}: {W.metric_label(metric)} by group (mean [95 % CI], n)", cols,
              [rows[m] for m in methods], ["baseline" if is_baseline(m) else "" for m in methods], values=values)
    t.note = ("gap = largest − smallest group mean; ratio = smallest / largest; worst = the group with the "
              f"{'lowest' if hib else 'highest'} value. Groups with few samples have wide intervals"
              + (f"; groups with fewer than {min_group_size} scored samples (no CI) are too small to measure and "
                 "are left out of gap, ratio and worst." if min_group_size > 1 else "."))
    return t


def _gap_cells(vals: Dict[str, tuple], hib: bool, min_n: int = 0) -> List[str]:
    v = {g: x[0] for g, x in vals.items() if np.isfinite(x[0]) and x[3] >= min_n}
    if len(v) < 2:
        return ["n/a", "n/a", "n/a"]
    lo, hi = min(v.values()), max(v.values())
    worst = min(v, key=v.get) if hib else max(v, key=v.get)
    ratio = lo / hi if hi > 0 and lo >= 0 else float("nan")
    return [W.num(hi - lo), W.num(ratio), worst]


MODEL_METRICS = ("accuracy", "tpr", "fpr", "ppv", "auroc")


def model_group_table(data: RunData, model: str, target: Any, tid: str, threshold: float = 0.5,
                      n_boot: int = 200) -> Optional[Table]:
    """The classifier's metrics by group for one class: the bench's aggregates (``method = "model"``,
    patient bootstrap) when present, else ``fastxai.eval.group_report`` on the predictions."""
    a = data.aggregates
    if len(a) and "method" in a.columns:
        a = a[(a["method"] == "model") & (a["model"] == model)]
        if "target" in a.columns:
            a = a[a["target"].astype(str) == str(target)]
    if len(a):
        return _model_table_from_aggregates(a, model, target, tid)
    return _model_table_from_predictions(data, model, target, tid, threshold, n_boot)


def _model_table_from_aggregates(a: Any, model: str, target: Any, tid: str) -> Table:
    metrics = [m for m in MODEL_METRICS if m in set(a["metric"])] + sorted(set(a["metric"]) - set(MODEL_METRICS))
    cols = ["group", "n"] + [W.metric_label(m) for m in metrics]
    t = Table(tid, f"{model}: classifier metrics by group, class {target} (value [95 % CI])", cols)
    for (feat, grp), g in a.groupby(["group_feature", "group"], sort=False):
        by = {r["metric"]: r for _, r in g.iterrows()}
        n = max(int(r["n"]) for r in by.values())
        t.rows.append([("all" if feat == "all" else f"{feat} = {grp}"), str(n)] + [
            fmt_ci(float(by[m]["value"]), float(by[m]["ci_low"]), float(by[m]["ci_high"])) if m in by else "n/a"
            for m in metrics])
        t.row_classes.append("summary" if feat == "all" else "")
    t.note = ("From the bench's aggregate stage (threshold 0.5): sensitivity = TPR among positives, FPR among "
              "negatives, PPV among predicted positives; n = images in the group; CIs resample patients "
              "(AUROC: image-level bootstrap). Empty CIs: group below the run's minimum size.")
    return t


def _model_table_from_predictions(data: RunData, model: str, target: Any, tid: str, threshold: float,
                                  n_boot: int) -> Optional[Table]:
    import fastxai.eval as fe

    p = data.predictions
    p = p[p["model"] == model]
    if "target" in p.columns:
        p = p[p["target"].astype(str) == str(target)]
    p = p.drop_duplicates("sample_id")
    s = data.samples.drop_duplicates("sample_id").set_index("sample_id").reindex(p["sample_id"])
    ok = p["y_true"].notna().to_numpy() & p["y_score"].notna().to_numpy()
    if ok.sum() < 2:
        return None
    y, sc = p["y_true"].to_numpy()[ok].astype(int), p["y_score"].to_numpy(dtype=np.float64)[ok]
    cols = ["group", "n"] + [W.metric_label(m) for m in CLASSIFIER_METRICS]
    t = Table(tid, f"{model}: classifier metrics by group (threshold {threshold:g}; value [95 % CI])", cols)
    for f in ["all"] + data.group_columns:
        g = np.array(["all"] * int(ok.sum())) if f == "all" else s[f].astype(str).to_numpy()[ok]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = fe.group_report(y, y_score=sc, sensitive_features={f: g}, metrics=list(CLASSIFIER_METRICS),
                                  threshold=threshold, n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
        ci = rep.by_group_ci()
        for i, grp in enumerate(rep.groups):
            label = "all" if f == "all" else f"{f} = {grp[0]}"
            t.rows.append([label, str(int(rep.counts[i]))] + [
                fmt_ci(float(rep.by_group[m][i]), float(ci[m][0][i]), float(ci[m][1][i])) for m in CLASSIFIER_METRICS])
            t.row_classes.append("")
        if f != "all":
            diff, worst = rep.difference(), rep.worst_group()
            t.rows.append([f"{f}: gap / worst", ""] + [
                f"{W.num(diff[m])} / {worst[m][0] if worst[m] else 'n/a'}" for m in CLASSIFIER_METRICS])
            t.row_classes.append("summary")
    t.note = ("From fastxai.eval.group_report: sensitivity = TPR, specificity = TNR, ECE with 15 bins; CIs from "
              f"{n_boot} image-level bootstrap replicates (fairlearn's resamples). The findings' CIs resample patients.")
    return t
