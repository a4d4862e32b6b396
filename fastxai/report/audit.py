"""The dataset audit: who is in the data, how they are labelled and annotated — before any model.

``audit_dataset(samples, boxes, ...)`` takes one row per image (``sample_id``, optional
``patient_id``, ``split``, group columns, label columns, optional ``height``/``width``) and one row
per box, and returns an :class:`Audit`: per-group tables (images, patients, share, label
prevalence, annotation coverage, boxes per image, box size, image size and intensity), every
pairwise intersection of the group columns, patients vs images per split, and flags (groups and
intersections too small to measure, under-represented groups, patients in several splits, groups
without annotations). Used by ``fastxai audit CONFIG`` and as the report's first section.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Audit", "AuditFlag", "audit_dataset", "image_stats"]

# per-image columns averaged per group -> their label in the audit table
PROPERTIES = {"height0": "stored height (px)", "width0": "stored width (px)", "height": "input height (px)",
              "width": "input width (px)", "intensity_mean": "intensity mean", "intensity_std": "intensity SD"}


@dataclass
class AuditFlag:
    """One audit warning. kind: too_small | under_represented | intersection | leakage | annotation."""

    kind: str
    text: str
    feature: str = ""
    group: str = ""
    n: int = 0


@dataclass
class Audit:
    """The audit's tables (pandas DataFrames) and flags."""

    n_images: int
    n_patients: int
    n_boxes: int
    group_columns: List[str]
    label_columns: List[str]
    groups: Dict[str, Any]
    intersections: Dict[Tuple[str, str], Any]
    splits: Any
    flags: List[AuditFlag] = field(default_factory=list)
    min_group_size: int = 30
    full: Any = None  # every combination of all group columns (3 or more), fewest images first

    def flagged(self, kind: str) -> List[AuditFlag]:
        """Flags of one kind."""
        return [f for f in self.flags if f.kind == kind]


def image_stats(sample_ids: Sequence, images: np.ndarray) -> Any:
    """(N, C, H, W) images -> DataFrame sample_id, height, width, intensity_mean, intensity_std."""
    import pandas as pd

    x = np.asarray(images, dtype=np.float64)
    flat = x.reshape(x.shape[0], -1)
    return pd.DataFrame({"sample_id": list(sample_ids), "height": x.shape[-2], "width": x.shape[-1],
                         "intensity_mean": flat.mean(1), "intensity_std": flat.std(1)})


def label_columns(samples: Any) -> List[str]:
    """Binary label columns: ``label``, ``y_true`` and every ``y_*`` column."""
    return [c for c in samples.columns if c in ("label", "y_true") or c.startswith("y_")]


def audit_dataset(samples: Any, boxes: Any, *, group_columns: Sequence[str],
                  labels: Optional[Sequence[str]] = None, stats: Any = None,
                  box_frame: Optional[Tuple[int, int]] = None,
                  min_group_size: int = 30, under_share: float = 0.5) -> Audit:
    """Audit one table of images (N rows) and their boxes.

    ``stats``: optional DataFrame from :func:`image_stats`; ``box_frame``: (H, W) of the boxes' pixel
    frame (box sizes are reported as a fraction of it; default: the samples' ``height``/``width``
    columns, else square pixels); ``min_group_size``: fewer images than
    this is "too small to measure"; a group whose share is below ``under_share / G`` (G groups of
    its feature) is "under-represented".
    """
    s = samples.drop_duplicates("sample_id").reset_index(drop=True).copy()
    if "patient_id" not in s.columns:
        s["patient_id"] = s["sample_id"]
    s["patient_id"] = s["patient_id"].where(s["patient_id"].notna(), s["sample_id"])
    labels = list(labels) if labels is not None else label_columns(s)
    b = boxes[boxes["sample_id"].isin(s["sample_id"])] if len(boxes) else boxes
    per_img = _box_features(s, b, box_frame)
    for lab in labels:  # does each positive image carry a box of its finding?
        name = lab[2:] if lab.startswith("y_") else lab
        has = set(b.loc[b["finding"].astype(str) == name, "sample_id"]) if "finding" in b.columns else set()
        if not has and lab in ("label", "y_true") and len(b):
            has = set(b["sample_id"])  # one unnamed label: any box counts
        per_img[f"_box_{lab}"] = per_img["sample_id"].isin(has)
    if stats is not None and len(stats):
        s = s.merge(stats.drop(columns=[c for c in ("height", "width") if c in s.columns], errors="ignore"),
                    on="sample_id", how="left")
    s = s.merge(per_img, on="sample_id", how="left")
    groups = {f: _group_table(s, f, labels) for f in group_columns}
    inter = {(a, c): _crosstab(s, a, c) for a, c in itertools.combinations(group_columns, 2)}
    full = _full_intersection(s, list(group_columns)) if len(group_columns) > 2 else None
    audit = Audit(n_images=len(s), n_patients=int(s["patient_id"].nunique()), n_boxes=int(len(b)),
                  group_columns=list(group_columns), label_columns=labels, groups=groups,
                  intersections=inter, splits=_split_table(s), min_group_size=min_group_size, full=full)
    audit.flags = _flags(s, audit, under_share)
    return audit


def _box_features(s: Any, b: Any, frame: Optional[Tuple[int, int]]) -> Any:
    """Per image: n_boxes, mean box area (a fraction of the frame when known; NaN without boxes)."""
    import pandas as pd

    if not len(b):
        return pd.DataFrame({"sample_id": s["sample_id"], "n_boxes": 0, "box_area": np.nan})
    b = b.copy()
    b["_area"] = (b["x1"] - b["x0"]).clip(lower=0) * (b["y1"] - b["y0"]).clip(lower=0)
    agg = b.groupby("sample_id").agg(n_boxes=("_area", "size"), box_area=("_area", "mean")).reset_index()
    out = s[["sample_id"]].merge(agg, on="sample_id", how="left")
    out["n_boxes"] = out["n_boxes"].fillna(0).astype(int)
    if frame is not None:
        out["box_area"] = out["box_area"].to_numpy(dtype=np.float64) / float(frame[0] * frame[1])
    elif "height" in s.columns and "width" in s.columns:
        out["box_area"] = out["box_area"].to_numpy(dtype=np.float64) / (s["height"] * s["width"]).to_numpy(np.float64)
    return out


def _group_table(s: Any, feature: str, labels: List[str]) -> Any:
    """One row per level of ``feature`` (missing values as their own level "(missing)")."""
    import pandas as pd

    col = s[feature].astype(object).where(s[feature].notna(), "(missing)").astype(str)
    rows = []
    for level in sorted(col.unique()):
        g = s[col == level]
        row: Dict[str, Any] = {"group": level, "images": len(g), "patients": int(g["patient_id"].nunique()),
                               "share": len(g) / max(len(s), 1)}
        for lab in labels:
            y = pd.to_numeric(g[lab], errors="coerce")
            row[f"prevalence {lab}"] = float(y.mean())
            if f"_box_{lab}" in g.columns and (y == 1).any():
                row[f"positives with a box, {lab}"] = float(g.loc[y == 1, f"_box_{lab}"].mean())
        row["annotated"] = float((g["n_boxes"] > 0).mean()) if len(g) else np.nan  # images with any box
        row["boxes / image"] = float(g["n_boxes"].mean()) if len(g) else np.nan
        row["box area (median)"] = float(g["box_area"].median()) if g["box_area"].notna().any() else np.nan
        for c, label in PROPERTIES.items():
            if c in g.columns:
                row[label] = float(pd.to_numeric(g[c], errors="coerce").mean())
        if "view_position" in g.columns and feature != "view_position":
            vc = g["view_position"].astype(str).value_counts()
            row["view position"] = ", ".join(f"{k} {v}" for k, v in sorted(vc.items()))
        rows.append(row)
    return pd.DataFrame(rows)


def _crosstab(s: Any, a: str, b: str) -> Any:
    import pandas as pd

    fill = lambda c: s[c].astype(object).where(s[c].notna(), "(missing)").astype(str)  # noqa: E731
    return pd.crosstab(fill(a), fill(b))


def _full_intersection(s: Any, cols: List[str]) -> Any:
    """Images and patients in every combination of all group columns (empty ones included)."""
    import pandas as pd

    vals = {c: s[c].astype(object).where(s[c].notna(), "(missing)").astype(str) for c in cols}
    df = pd.DataFrame(vals).assign(patient_id=s["patient_id"].values)
    counts = df.groupby(cols).agg(images=("patient_id", "size"), patients=("patient_id", "nunique"))
    full = pd.MultiIndex.from_product([sorted(vals[c].unique()) for c in cols], names=cols)
    counts = counts.reindex(full, fill_value=0).reset_index()
    return counts.sort_values(["images"] + cols, kind="stable").reset_index(drop=True)


def _split_table(s: Any) -> Any:
    import pandas as pd

    split = s["split"].astype(str) if "split" in s.columns else pd.Series("all", index=s.index)
    rows = []
    for name in sorted(split.unique()):
        g = s[split == name]
        per = g.groupby("patient_id").size()
        rows.append({"split": name, "images": len(g), "patients": len(per),
                     "images / patient (mean)": float(per.mean()), "images / patient (max)": int(per.max())})
    return pd.DataFrame(rows)


def _flags(s: Any, audit: Audit, under_share: float) -> List[AuditFlag]:
    out: List[AuditFlag] = []
    m = audit.min_group_size
    for f, t in audit.groups.items():
        n_levels = len(t)
        for _, r in t.iterrows():
            g, n = str(r["group"]), int(r["images"])
            if n < m:
                imgs = "image" if n == 1 else "images"
                out.append(AuditFlag("too_small", f"{f} = {g} has {n} {imgs} (< {m}): too small to measure; "
                                     "it is shown without a CI and left out of gaps, worst groups and tests.", f, g, n))
            if n_levels > 1 and r["share"] < under_share / n_levels:
                out.append(AuditFlag("under_represented", f"{f} = {g} is under-represented: {n} of "
                                     f"{audit.n_images} images ({100 * r['share']:.1f} %; an equal share would be "
                                     f"{100 / n_levels:.1f} %).", f, g, n))
            if audit.n_boxes and r["annotated"] == 0:
                out.append(AuditFlag("annotation", f"{f} = {g}: no image has a box, so localisation "
                                     "cannot be measured for it.", f, g, n))
    for (a, b), ct in audit.intersections.items():
        for ga in ct.index:
            for gb in ct.columns:
                n = int(ct.loc[ga, gb])
                if n < m:
                    imgs = "image" if n == 1 else "images"
                    out.append(AuditFlag("intersection", f"intersection {a} = {ga} × {b} = {gb} has {n} {imgs} "
                                         f"(< {m}): too small to measure.", f"{a} × {b}", f"{ga} × {gb}", n))
    if "split" in s.columns:
        per = s.groupby("patient_id")["split"].nunique()
        leak = per[per > 1]
        if len(leak):
            out.append(AuditFlag("leakage", f"{len(leak)} patients have images in more than one split "
                                 "(train/test leakage).", "patient_id", "", int(len(leak))))
    return out
