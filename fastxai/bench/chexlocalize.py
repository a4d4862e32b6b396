"""cheXlocalize's evaluation protocol (Saporta et al. 2022) over a bench run.

The evaluate stage stores, for every annotated unit of the test and validation splits, the IoU
of ``minmax(h) > t`` with the annotation at ``t = k / n_thresholds`` (curve
``chexlocalize_iou``, step k; ``fastxai.eval.overlap_at_thresholds``, an empty prediction
scores 0). Here, per (model, method, class): the threshold maximising the validation mIoU
(first maximum) is chosen, then the test mIoU at that threshold and the test hit rate
(``hit_rate`` metric: the first arg-max in the annotation) are reported with patient-bootstrap
CIs of ``chexlocalize.n_boot`` replicates (1,000 by default, as the protocol).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from fastxai.bench.bootstrap import cluster_bootstrap


def _ci_row(values: np.ndarray, patients: np.ndarray, cfg: Any, base: Dict[str, Any]) -> Dict[str, Any]:
    r = cluster_bootstrap(values, patients, np.zeros(len(values), dtype=np.int64), 1, cfg.chexlocalize.n_boot,
                          cfg.groups.ci, cfg.groups.seed)
    small = int(r["n"][0]) < cfg.groups.min_group_size  # no interval from a handful of units
    return {**base, "group_feature": "all", "group": "all", "value": float(r["mean"][0]),
            "ci_low": float("nan") if small else float(r["low"][0]),
            "ci_high": float("nan") if small else float(r["high"][0]), "n": int(r["n"][0]),
            "n_patients": int(r["n_patients"][0]), "ci_method": "patient"}


def chexlocalize_tables(curves: Any, scores: Any, samples: Any, cfg: Any) -> Tuple[List[Dict], List[Dict]]:
    """(aggregate rows, threshold rows) of the protocol."""
    c = cfg.chexlocalize
    split = samples.set_index("sample_id")["split"]
    patient = samples.set_index("sample_id")["patient_id"]
    iou = curves[curves["curve"] == "chexlocalize_iou"].copy()
    iou["split"] = iou["sample_id"].map(split)
    hits = scores[scores["metric"] == "hit_rate"].copy()
    hits["split"] = hits["sample_id"].map(split)
    agg: List[Dict] = []
    thresholds: List[Dict] = []
    for (model, method, target), sub in iou.groupby(["model", "method", "target"], sort=False):
        val = sub[sub["split"] == c.val_split]
        test = sub[sub["split"] == cfg.split.evaluate]
        if val.empty or test.empty:
            continue
        per_step = val.groupby("step")["value"].mean()
        best = int(per_step.idxmax())
        t_best = best / c.n_thresholds
        thresholds.append({"model": model, "method": method, "target": target, "threshold": t_best,
                           "val_miou": float(per_step.loc[best]), "n_val": int(val["sample_id"].nunique())})
        at = test[test["step"] == best]
        base = {"model": model, "method": method, "target": target}
        agg.append(_ci_row(at["value"].to_numpy(np.float64), at["sample_id"].map(patient).to_numpy(), cfg,
                           {**base, "metric": "chexlocalize_miou"}))
        h = hits[(hits["model"] == model) & (hits["method"] == method) & (hits["target"] == target)
                 & (hits["split"] == cfg.split.evaluate)]
        if len(h):
            agg.append(_ci_row(h["value"].to_numpy(np.float64), h["sample_id"].map(patient).to_numpy(), cfg,
                               {**base, "metric": "chexlocalize_hit_rate"}))
    return agg, thresholds
