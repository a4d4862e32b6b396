"""The aggregate stage (rank 0): tables of means with patient-bootstrap CIs, overall and by group.

``tables/aggregates.parquet|csv`` — one row per (model, method, metric, target, group_feature,
group): ``value, ci_low, ci_high, n, n_patients, ci_method``. ``group_feature = "all"`` is the
overall row; ``target = "all"`` pools the explained classes (per-class rows when there are
several). Explanation metrics use ``method = <method label>``; model metrics (``tpr``, ``fpr``,
``accuracy``, ``ppv``, ``selection_rate`` at threshold 0.5, and ``auroc``) use
``method = "model"``, point estimates from ``fastxai.eval.group_report``; their CIs are
patient-bootstrap (``ci_method = "patient"``) except AUROC's (``"row"``: fastxai.eval's
fairlearn-style row bootstrap). ``tables/timings.*`` and, with the cheXlocalize protocol,
``tables/chexlocalize.*`` (see ``fastxai.bench.chexlocalize``).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np

from fastxai.bench.bootstrap import cluster_bootstrap, group_codes

COLUMNS = ["model", "method", "metric", "target", "group_feature", "group", "value", "ci_low", "ci_high", "n",
           "n_patients", "ci_method"]
COUNT_METRICS = {  # metric -> (row subset, value)
    "tpr": (lambda y, p: y == 1, lambda y, p: p), "fpr": (lambda y, p: y == 0, lambda y, p: p),
    "accuracy": (lambda y, p: np.ones_like(y, bool), lambda y, p: (p == y)),
    "ppv": (lambda y, p: p == 1, lambda y, p: y), "selection_rate": (lambda y, p: np.ones_like(y, bool),
                                                                    lambda y, p: p),
}


def _by_groups(df: Any, value_col: str, features: List[str], gcfg: Any, base: Dict[str, Any]) -> List[Dict]:
    """Overall + per-group rows for the values of ``df`` (needs patient_id and the features)."""
    rows = []
    specs = [("all", np.zeros(len(df), dtype=np.int64), ["all"])]
    specs += [(f, *group_codes(df[f])) for f in features]
    for feat, codes, levels in specs:
        r = cluster_bootstrap(df[value_col].to_numpy(np.float64), df["patient_id"].to_numpy(), codes, len(levels),
                              gcfg.n_boot, gcfg.ci, gcfg.seed)
        for j, level in enumerate(levels):
            small = r["n"][j] < gcfg.min_group_size
            rows.append({**base, "group_feature": feat, "group": level, "value": float(r["mean"][j]),
                         "ci_low": np.nan if small else float(r["low"][j]),
                         "ci_high": np.nan if small else float(r["high"][j]),
                         "n": int(r["n"][j]), "n_patients": int(r["n_patients"][j]), "ci_method": "patient"})
    return rows


def score_aggregates(scores: Any, samples: Any, cfg: Any) -> List[Dict]:
    """Explanation-metric rows from the long scores table (model, method, metric, sample_id, target, value)."""
    feats = list(cfg.dataset.group_columns)
    df = scores.merge(samples[["sample_id", "patient_id", *feats]], on="sample_id", how="left")
    rows: List[Dict] = []
    labels = sorted(df["target"].unique()) if len(df) else []
    for (model, method, metric), sub in df.groupby(["model", "method", "metric"], sort=False):
        rows += _by_groups(sub, "value", feats, cfg.groups, {"model": model, "method": method, "metric": metric,
                                                              "target": "all"})
        if len(labels) > 1:
            for lab, s2 in sub.groupby("target"):
                rows += _by_groups(s2, "value", [], cfg.groups, {"model": model, "method": method, "metric": metric,
                                                                  "target": lab})
    return rows


def prediction_aggregates(preds: Any, samples: Any, cfg: Any) -> List[Dict]:
    """Model-metric rows (TPR, FPR, ... and AUROC) per model and class, overall and by group."""
    feats = list(cfg.dataset.group_columns)
    df = preds.merge(samples[["sample_id", "patient_id", *feats]], on="sample_id", how="left")
    rows: List[Dict] = []
    for (model, label), sub in df.groupby(["model", "label"], sort=False):
        y = sub["y_true"].to_numpy(np.int64)
        p = (sub["y_score"].to_numpy() >= 0.5).astype(np.int64)
        for metric, (subset, value) in COUNT_METRICS.items():
            keep = subset(y, p)
            part = sub.loc[keep].assign(_v=np.asarray(value(y, p), dtype=np.float64)[keep])
            rows += _by_groups(part, "_v", feats, cfg.groups, {"model": model, "method": "model", "metric": metric,
                                                               "target": label})
        rows += _auroc_rows(sub, feats, cfg, model, label)
    return rows


def _auroc_rows(sub: Any, feats: List[str], cfg: Any, model: str, label: str) -> List[Dict]:
    """AUROC overall and by group through ``fastxai.eval.group_report`` (row bootstrap CIs)."""
    import warnings

    import fastxai.eval as fe

    y = sub["y_true"].to_numpy(np.int64)
    if len(set(y.tolist())) < 2:
        return []
    g = cfg.groups
    q = [(1 - g.ci) / 2, (1 + g.ci) / 2] if g.n_boot else []
    rows = []
    for feat in ["all", *feats]:
        sens = np.array(["all"] * len(sub)) if feat == "all" else sub[feat].astype(str).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = fe.group_report(y, y_score=sub["y_score"].to_numpy(np.float64), sensitive_features=sens,
                                  metrics=["auroc"], n_boot=g.n_boot or None, ci_quantiles=q, random_state=g.seed)
        ci = rep.by_group_ci()["auroc"] if g.n_boot else None
        for j, grp in enumerate(rep.groups):
            mask = sens == grp[0]
            small = int(mask.sum()) < g.min_group_size
            rows.append({"model": model, "method": "model", "metric": "auroc", "target": label,
                         "group_feature": feat, "group": str(grp[0]), "value": float(rep.by_group["auroc"][j]),
                         "ci_low": np.nan if ci is None or small else float(ci[0][j]),
                         "ci_high": np.nan if ci is None or small else float(ci[1][j]),
                         "n": int(mask.sum()), "n_patients": int(sub.loc[mask, "patient_id"].nunique()),
                         "ci_method": "row"})
    return rows


def write_table(df: Any, folder: str, name: str) -> None:
    """``<folder>/<name>.parquet`` and ``.csv`` (atomic renames)."""
    os.makedirs(folder, exist_ok=True)
    for ext, writer in (("parquet", lambda p: df.to_parquet(p, index=False)), ("csv", lambda p: df.to_csv(
            p, index=False))):
        path = os.path.join(folder, f"{name}.{ext}")
        tmp = f"{path}.tmp-{os.getpid()}"
        writer(tmp)
        os.replace(tmp, path)
