"""``open_run(RUN_DIR)``: a bench run folder as pandas DataFrames (docs/RUN_FOLDER.md).

The report reads runs only through this object, so the storage may change without breaking
it. Only finished cells of the run's current plan (the last config run in the folder) are read.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from fastxai.bench.store import Store


class Run:
    """A run folder. See ``docs/RUN_FOLDER.md`` for every table's columns."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = os.path.abspath(run_dir)
        if not os.path.exists(self._p("store.sqlite")):
            raise FileNotFoundError(f"{run_dir} is not a fastxai bench run folder (no store.sqlite)")
        self.config: Dict[str, Any] = self._json("resolved_config.json")
        self.provenance: Dict[str, Any] = self._json("run.json")

    def _p(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    def _json(self, name: str) -> Dict[str, Any]:
        path = self._p(name)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def _rows(self, all_cells: bool = False) -> List[Dict[str, Any]]:
        store = Store(self._p("store.sqlite"))
        try:
            return store.rows(plan_only=not all_cells)
        finally:
            store.close()

    def cells(self, all_cells: bool = False) -> Any:
        """One row per cell: ``key, stage, model, method, status, attempts, seconds, n_samples, error,
        started, finished, summary`` (dict). ``all_cells``: also cells of earlier configs."""
        import pandas as pd

        rows = self._rows(all_cells)
        cols = ["key", "stage", "model", "method", "status", "attempts", "seconds", "n_samples", "error", "started",
                "finished", "summary"]
        df = pd.DataFrame(rows, columns=[*cols, "spec", "owner", "lease_expires", "heartbeat", "traceback", "created"])
        df["summary"] = [json.loads(s) if isinstance(s, str) else {} for s in df["summary"]]
        return df[cols + ["traceback"]]

    def _done(self, stage: str) -> List[Dict[str, Any]]:
        return [r for r in self._rows() if r["stage"] == stage and r["status"] == "done"]

    def _table(self, name: str) -> Any:
        import pandas as pd

        path = self._p("dataset", f"{name}.parquet")
        return pd.read_parquet(path) if os.path.exists(path) else pd.DataFrame()

    def samples(self) -> Any:
        """One row per image: ``sample_id, image, patient_id, split``, the group columns, ``y_<label>``,
        ``height0, width0`` (stored size)."""
        return self._table("samples")

    def boxes(self) -> Any:
        """One row per box: ``sample_id, finding, x0, y0, x1, y1`` in the model-input frame."""
        return self._table("boxes")

    def units(self) -> Any:
        """The explained (sample, class) pairs: ``unit, sample_id, target, label, split``."""
        return self._table("units")

    def _results(self, stage: str) -> Any:
        import pandas as pd

        frames = []
        for r in self._done(stage):
            path = self._p("results", f"{r['key']}.parquet")
            if os.path.exists(path):
                df = pd.read_parquet(path)
                df.insert(0, "method", r["method"])
                df.insert(0, "model", r["model"])
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _label(self, idx: Any) -> Any:
        labels = self.config.get("dataset", {}).get("labels", [])
        return [labels[int(i)] for i in idx]

    def predictions(self) -> Any:
        """``model, sample_id, target, y_true, y_score`` (target = class name) for the evaluated images."""
        df = self._results("predict")
        if df.empty:
            return df
        return df.assign(target=df["label"])[["model", "sample_id", "target", "y_true", "y_score"]]

    def scores(self) -> Any:
        """Long table ``model, method, metric, sample_id, target, value`` (baselines: ``baseline:*``)."""
        df = self._results("evaluate")
        if df.empty:
            return df
        df = df[df["kind"] == "score"]
        return df.assign(metric=df["name"], target=self._label(df["target"]))[
            ["model", "method", "metric", "sample_id", "target", "value"]].reset_index(drop=True)

    def curves(self) -> Any:
        """Long table ``model, method, curve, sample_id, target, step, value`` (deletion, insertion,
        chexlocalize_iou)."""
        df = self._results("evaluate")
        if df.empty:
            return df
        df = df[df["kind"] == "curve"]
        return df.assign(curve=df["name"], target=self._label(df["target"]))[
            ["model", "method", "curve", "sample_id", "target", "step", "value"]].reset_index(drop=True)

    def timings(self) -> Any:
        """``model, method, stage, seconds, n_samples, floor_seconds`` (explain, evaluate, predict)."""
        import pandas as pd

        path = self._p("tables", "timings.parquet")
        return pd.read_parquet(path) if os.path.exists(path) else pd.DataFrame()

    def aggregates(self) -> Any:
        """``model, method, metric, target, group_feature, group, value, ci_low, ci_high, n, n_patients,
        ci_method`` (``group_feature == "all"``: overall)."""
        import pandas as pd

        path = self._p("tables", "aggregates.parquet")
        return pd.read_parquet(path) if os.path.exists(path) else pd.DataFrame()

    def chexlocalize_thresholds(self) -> Any:
        """Per (model, method, target) the validation-tuned threshold and its validation mIoU."""
        import pandas as pd

        path = self._p("tables", "chexlocalize_thresholds.parquet")
        return pd.read_parquet(path) if os.path.exists(path) else pd.DataFrame()

    def maps(self, model: str, method: str, sample_ids: Sequence[str], target: Optional[str] = None) -> torch.Tensor:
        """(N, H, W) float32 saved maps (``run.save_maps = true``) of the first unit of each sample (of
        class ``target`` when given). KeyError when not saved."""
        from fastxai.bench.maps_store import read_maps

        cell = next((r for r in self._done("explain") if r["model"] == model and r["method"] == method), None)
        try:
            units, sids, arr = read_maps(self.run_dir, cell["key"], sample_ids) if cell else (None, None, None)
        except FileNotFoundError:
            cell = None
        if cell is None:
            raise KeyError(f"no saved maps for model {model!r}, method {method!r} (set run.save_maps = true)")
        labels = self.units().set_index("unit")["label"]
        found: Dict[str, np.ndarray] = {}
        for u, sid, m in sorted(zip(units.tolist(), sids, arr), key=lambda t: t[0]):
            if sid not in found and (target is None or labels.at[int(u)] == target):
                found[sid] = m
        missing = [s for s in sample_ids if s not in found]
        if missing:
            raise KeyError(f"no saved map for samples {missing[:5]}")
        return torch.from_numpy(np.stack([found[s] for s in sample_ids]).astype(np.float32))

    def images(self, sample_ids: Sequence[str]) -> torch.Tensor:
        """(N, C, H, W) model-input images, re-read through the run's dataset spec."""
        from fastxai.bench.config import PreprocessSection
        from fastxai.bench.imageio import read_image

        ds = self.config["dataset"]
        pp = PreprocessSection.model_validate(ds["preprocess"])
        return torch.stack([read_image(os.path.join(ds["root"], s), pp.hw(), pp.channels, pp.mean, pp.std,
                                       pp.window, pp.invert_monochrome1) for s in sample_ids])


def open_run(run_dir: str) -> Run:
    """Open a bench run folder for reading."""
    return Run(run_dir)
