"""What the report reads from a run: one :class:`RunData`, filled through the bench's reader API.

The report never opens the run folder's files itself: it calls ``fastxai.bench.open_run(run_dir)``
(docs/RUN_FOLDER.md) or takes any object with the same methods (tests pass an in-memory one).
A reader method that is missing or fails leaves an empty table here and a note in
``RunData.notes`` (shown in the report), so a partial run still gives a partial report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

BASELINE_PREFIX = "baseline:"
TABLES = {
    "cells": ["stage", "model", "method", "status"],
    "samples": ["sample_id"],
    "boxes": ["sample_id", "finding", "x0", "y0", "x1", "y1"],
    "predictions": ["model", "sample_id", "y_true", "y_score"],
    "scores": ["model", "method", "metric", "sample_id", "value"],
    "curves": ["model", "method", "curve", "sample_id", "step", "value"],
    "timings": ["model", "method", "stage", "seconds", "n_samples"],
    "aggregates": ["model", "method", "metric", "group_feature", "group", "value", "ci_low", "ci_high", "n"],
}
NON_GROUP_COLUMNS = {"sample_id", "image", "patient_id", "split", "mask", "target", "label", "finding", "age",
                     "follow_up", "nih_labels", "box_id", "x0", "y0", "x1", "y1", "path"}


def is_baseline(method: str) -> bool:
    """True for the trivial baselines (``baseline:centre`` etc.)."""
    return str(method).startswith(BASELINE_PREFIX)


@dataclass
class RunData:
    """The run's tables as pandas DataFrames (columns as in docs/RUN_FOLDER.md)."""

    config: Dict[str, Any]
    provenance: Dict[str, Any]
    tables: Dict[str, Any]
    reader: Any = None
    run_dir: Optional[Path] = None
    notes: List[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    # ------------------------------------------------------------------ derived views
    @property
    def group_columns(self) -> List[str]:
        """The group (sensitive / confounder) columns: the config's ``groups`` when it names them,
        else the samples' non-id, non-label columns with few distinct values."""
        s = self.samples
        cfg = _config_groups(self.config)
        if cfg:
            return [c for c in cfg if c in s.columns]
        out = []
        for c in s.columns:
            if c in NON_GROUP_COLUMNS or c.startswith("y_") or c.startswith("_"):
                continue
            n = s[c].nunique(dropna=True)
            if 2 <= n <= 12:
                out.append(c)
        return out

    @property
    def models(self) -> List[str]:
        """Models in the order first seen in scores, then predictions."""
        seen: List[str] = []
        for t in ("scores", "predictions"):
            for m in self.tables[t].get("model", []):
                if m not in seen:
                    seen.append(m)
        return seen

    def methods(self, model: Optional[str] = None, baselines: bool = False) -> List[str]:
        """Methods scored for ``model`` (all models if None); baselines only if ``baselines``."""
        sc = self.scores
        if model is not None:
            sc = sc[sc["model"] == model]
        out = [m for m in dict.fromkeys(sc["method"]) if is_baseline(m) == baselines]
        return out

    def metrics(self, model: Optional[str] = None) -> List[str]:
        """Per-sample metrics present in scores, in first-seen order."""
        sc = self.scores if model is None else self.scores[self.scores["model"] == model]
        return list(dict.fromkeys(sc["metric"]))

    def score_matrix(self, model: str, metric: str, units: Sequence) -> Dict[str, np.ndarray]:
        """method -> (U,) float64 scores aligned to ``units`` ((sample_id, target) pairs, or sample
        ids; NaN where missing). Without a target in the table, scores are matched by sample."""
        sc = self.scores
        sc = sc[(sc["model"] == model) & (sc["metric"] == metric)]
        units = list(units)
        by_target = "target" in sc.columns and bool(units) and isinstance(units[0], tuple) and units[0][1] is not None
        index = ["sample_id", "target"] if by_target else "sample_id"
        piv = sc.pivot_table(index=index, columns="method", values="value", aggfunc="mean")
        keys = units if by_target else [u[0] if isinstance(u, tuple) else u for u in units]
        piv = piv.reindex(pd_index(keys, by_target))
        return {m: piv[m].to_numpy(dtype=np.float64) for m in piv.columns}

    def maps(self, model: str, method: str, sample_ids: Sequence, target: Any = None):
        """(N, H, W) maps from the reader (of class ``target`` when given), or None (with a note)
        when the run did not save them."""
        if self.reader is None or not hasattr(self.reader, "maps"):
            return None
        try:
            kw = {} if target is None else {"target": target}
            m = self.reader.maps(model, method, list(sample_ids), **kw)
        except Exception as e:  # noqa: BLE001 - any reader failure means "no maps", noted
            _note(self.notes, f"maps for {model} / {method} unavailable: {type(e).__name__}: {e}")
            return None
        return None if m is None else np.asarray(m, dtype=np.float64)

    def images(self, sample_ids: Sequence):
        """(N, C, H, W) model-input images from the reader, or None (noted) if unavailable."""
        if self.reader is None or not hasattr(self.reader, "images"):
            return None
        try:
            return np.asarray(self.reader.images(list(sample_ids)), dtype=np.float64)
        except Exception as e:  # noqa: BLE001
            _note(self.notes, f"images unavailable: {type(e).__name__}: {e}")
            return None


def pd_index(keys: List[Any], multi: bool) -> Any:
    """A pandas Index (MultiIndex of (sample_id, target) pairs when ``multi``)."""
    import pandas as pd

    if multi:
        return pd.MultiIndex.from_tuples(keys, names=["sample_id", "target"])
    return pd.Index(keys, name="sample_id")


def _note(notes: List[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def _config_groups(config: Dict[str, Any]) -> List[str]:
    """Group columns named by the config: ``dataset.group_columns`` (the bench's schema), else a
    top-level ``groups`` list."""
    if not isinstance(config, dict):
        return []
    ds = config.get("dataset")
    if isinstance(ds, dict) and isinstance(ds.get("group_columns"), (list, tuple)) and ds["group_columns"]:
        return [str(x) for x in ds["group_columns"]]
    g = config.get("groups")
    if isinstance(g, (list, tuple)):
        return [str(x) for x in g]
    return []


def load_run(run: Union[str, Path, Any]) -> RunData:
    """A run folder (read through ``fastxai.bench.open_run``) or a reader object -> RunData."""
    import pandas as pd

    run_dir = None
    if isinstance(run, (str, Path)):
        from fastxai.bench import open_run

        run_dir = Path(run)
        run = open_run(run_dir)
    notes: List[str] = []
    tables = {}
    for name, cols in TABLES.items():
        df = None
        fn = getattr(run, name, None)
        if fn is None:
            _note(notes, f"the run reader has no {name}()")
        else:
            try:
                df = fn()
            except Exception as e:  # noqa: BLE001 - a missing table is reported, not fatal
                _note(notes, f"{name}() failed: {type(e).__name__}: {e}")
        if df is None:
            df = pd.DataFrame(columns=cols)
        tables[name] = df.copy()
    config = dict(getattr(run, "config", {}) or {})
    prov = dict(getattr(run, "provenance", {}) or {})
    if run_dir is None and getattr(run, "run_dir", None) is not None:
        run_dir = Path(run.run_dir)
    return RunData(config=config, provenance=prov, tables=tables, reader=run, run_dir=run_dir, notes=notes)
