"""The dataset spec -> sample, box and unit tables; patient splits; dataset and split hashes.

Schema of the canonical annotation CSV (other layouts are converted by ``fastxai.bench.adapters``):

* ``image`` (required): path relative to ``dataset.root``; an image may appear in several rows.
* one row per box: ``finding`` and ``x0, y0, x1, y1`` in the *stored* image's pixel frame
  (continuous coordinates, pixel (c, r) covers [c, c+1) x [r, r+1)); rows of an image without
  a box leave them empty. Or per image a ``mask`` path (``dataset.mask_column``) with ``finding``.
* ``patient_id`` (optional): splits are made by patient and bootstrap CIs resample patients.
* ``y_<label>`` (optional; ``dataset.label_columns`` renames them): 0/1 image labels; a label
  without a column is 1 where the image has a box or mask of that finding.
* every ``dataset.group_columns`` column (``sex``, ``age_group``, ...); a ``split`` column if
  ``dataset.split_column`` names it.

Boxes are rescaled with the image to the model-input frame (``preprocess.size``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import numpy as np

from fastxai.bench.errors import BadFileError


@dataclass
class DatasetTable:
    """Everything the stages need about the data, independent of the pixels."""

    samples: Any  # pandas DataFrame, one row per image (sample_id, image, patient_id, split, groups, labels)
    boxes: Any  # one row per box: sample_id, finding, x0, y0, x1, y1 (model-input frame)
    masks: Any  # one row per mask: sample_id, finding, mask (absolute path)
    labels: List[str]
    group_columns: List[str]
    bad_files: List[Tuple[str, str]] = field(default_factory=list)
    dataset_id: str = ""
    content_hash: str = ""

    def split_hash(self, split: str) -> str:
        """Hash of the sample ids in ``split`` (sorted)."""
        ids = sorted(self.samples.loc[self.samples["split"] == split, "sample_id"])
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()


def read_annotations(ds_cfg: Any) -> Any:
    """The canonical annotation DataFrame (adapters applied), all columns as read."""
    from fastxai.bench import adapters

    return adapters.to_canonical(ds_cfg)


def label_column(ds_cfg: Any, label: str) -> str:
    """The CSV column holding ``label``'s 0/1 image label."""
    return ds_cfg.label_columns.get(label, f"y_{label}")


def patient_split(patients: List[str], fractions: Dict[str, float], seed: int) -> Dict[str, str]:
    """Patient -> split name: a seeded permutation of the sorted patients cut at the fractions."""
    uniq = sorted(set(patients))
    order = np.random.default_rng(seed).permutation(len(uniq))
    names = list(fractions)
    cuts = np.round(np.cumsum([fractions[n] for n in names]) * len(uniq)).astype(int)
    out: Dict[str, str] = {}
    for rank, idx in enumerate(order):
        k = int(np.searchsorted(cuts, rank, side="right"))
        out[uniq[idx]] = names[min(k, len(names) - 1)]
    return out


def _scan_sizes(root: str, images: List[str], on_bad: str) -> Tuple[Dict[str, Tuple[int, int]], List]:
    from fastxai.bench.imageio import image_size

    sizes, bad = {}, []
    for img in images:
        path = os.path.join(root, img)
        try:
            sizes[img] = image_size(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable header is a bad file
            reason = f"{type(exc).__name__}: {exc}"
            if on_bad == "fail":
                raise BadFileError(path, reason) from exc
            bad.append((path, reason))
    return sizes, bad


def build_table(cfg: Any) -> DatasetTable:
    """Read the annotations, scan image headers, rescale boxes, split by patient."""
    import pandas as pd

    ds = cfg.dataset
    df = read_annotations(ds)
    df[ds.image_column] = df[ds.image_column].astype(str)
    images = list(dict.fromkeys(df[ds.image_column]))
    sizes, bad = _scan_sizes(ds.root, images, cfg.run.on_bad_file)
    df = df[df[ds.image_column].isin(sizes)]
    first = df.drop_duplicates(ds.image_column).set_index(ds.image_column)
    samples = pd.DataFrame({"sample_id": [i for i in images if i in sizes]})
    samples["image"] = samples["sample_id"]
    has_patient = ds.patient_column in df.columns
    samples["patient_id"] = (first.loc[samples["image"], ds.patient_column].astype(str).values if has_patient
                             else samples["sample_id"].values)
    for g in ds.group_columns:
        samples[g] = first.loc[samples["image"], g].astype(str).values
    H, W = ds.preprocess.hw()
    boxes = _boxes(df, ds, sizes, H, W)
    masks = _masks(df, ds)
    for lab in ds.labels:
        col = label_column(ds, lab)
        if col in df.columns:
            samples[f"y_{lab}"] = df.groupby(ds.image_column)[col].max().loc[samples["image"]].astype(int).values
        else:
            annotated = set(boxes.loc[boxes["finding"] == lab, "sample_id"]) | set(
                masks.loc[masks["finding"] == lab, "sample_id"])
            samples[f"y_{lab}"] = samples["sample_id"].isin(annotated).astype(int)
    samples["height0"] = [sizes[i][0] for i in samples["image"]]
    samples["width0"] = [sizes[i][1] for i in samples["image"]]
    if ds.split_column:
        samples["split"] = first.loc[samples["image"], ds.split_column].astype(str).values
    else:
        assign = patient_split(list(samples["patient_id"]), cfg.split.fractions, cfg.split.seed)
        samples["split"] = samples["patient_id"].map(assign)
    csv_bytes = _annotation_bytes(ds)
    content = _sha(csv_bytes, sorted((i, _file_size(os.path.join(ds.root, i))) for i in sizes),
                   ds.preprocess.model_dump(), ds.labels)
    name = ds.name or os.path.basename(os.path.normpath(ds.root))
    return DatasetTable(samples, boxes, masks, list(ds.labels), list(ds.group_columns), bad,
                        dataset_id=name, content_hash=content[:16])


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _annotation_bytes(ds: Any) -> bytes:
    out = b""
    for name in (ds.csv, ds.nih_boxes):
        p = os.path.join(ds.root, name) if name else ""
        if p and os.path.isfile(p):
            with open(p, "rb") as f:
                out += hashlib.sha256(f.read()).digest()
    return out


def _boxes(df: Any, ds: Any, sizes: Dict[str, Tuple[int, int]], H: int, W: int) -> Any:
    import pandas as pd

    cols = list(ds.box_columns)
    if not all(c in df.columns for c in cols) or ds.finding_column not in df.columns:
        return pd.DataFrame(columns=["sample_id", "finding", "x0", "y0", "x1", "y1"])
    rows = df.dropna(subset=cols)
    rows = rows[rows[ds.finding_column].astype(str).isin(ds.labels)]
    h0 = np.array([sizes[i][0] for i in rows[ds.image_column]], dtype=np.float64)
    w0 = np.array([sizes[i][1] for i in rows[ds.image_column]], dtype=np.float64)
    out = pd.DataFrame({"sample_id": rows[ds.image_column].values,
                        "finding": rows[ds.finding_column].astype(str).values})
    for name, col, scale in zip(("x0", "y0", "x1", "y1"), cols, (W / w0, H / h0, W / w0, H / h0)):
        out[name] = rows[col].astype(float).values * scale
    return out.reset_index(drop=True)


def _masks(df: Any, ds: Any) -> Any:
    import pandas as pd

    if not ds.mask_column or ds.mask_column not in df.columns:
        return pd.DataFrame(columns=["sample_id", "finding", "mask"])
    rows = df[df[ds.mask_column].notna() & (df[ds.mask_column].astype(str) != "")]
    return pd.DataFrame({"sample_id": rows[ds.image_column].values,
                         "finding": rows[ds.finding_column].astype(str).values,
                         "mask": [os.path.join(ds.root, m) for m in rows[ds.mask_column].astype(str)]})


def explain_units(table: DatasetTable, split: str, mode: str, max_samples: int = 0) -> Any:
    """The (sample, class) pairs to explain in ``split``: DataFrame ``unit, sample_id, target, label``.

    ``mode``: ``annotated`` (classes with a box / mask in the image), ``positive`` (y = 1) or ``all``.
    Order: sample order of the table, then class order; ``unit`` numbers them from 0.
    """
    import pandas as pd

    s = table.samples[table.samples["split"] == split]
    if max_samples:
        s = s.iloc[:max_samples]
    annotated = {(r.sample_id, r.finding) for r in table.boxes.itertuples()} | {
        (r.sample_id, r.finding) for r in table.masks.itertuples()}
    rows = []
    for rec in s.itertuples(index=False):
        sid = rec.sample_id
        for k, lab in enumerate(table.labels):
            keep = (mode == "all" or (mode == "positive" and int(getattr(rec, f"y_{lab}")) == 1)
                    or (mode == "annotated" and (sid, lab) in annotated))
            if keep:
                rows.append((sid, k, lab))
    out = pd.DataFrame(rows, columns=["sample_id", "target", "label"])
    out.insert(0, "unit", np.arange(len(out), dtype=np.int64))
    return out
