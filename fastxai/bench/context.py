"""What every stage of one bench run shares: config, data tables, store, ranks, cell specs."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch

import fastxai
from fastxai.bench.dist import Dist
from fastxai.bench.store import Store, cell_key


@dataclass
class Context:
    """One process's view of a run."""

    cfg: Any
    run_dir: str
    table: Any
    units: Any  # DataFrame: unit, sample_id, target, label, split
    dist: Dist
    store: Store
    owner: str
    quiet: bool = False
    models: Dict[str, Any] = field(default_factory=dict)  # name -> (module, weights hash)
    unit_boxes: Dict[int, Any] = field(default_factory=dict)  # unit -> (B, 4) boxes of its class
    unit_masks: Dict[int, List[str]] = field(default_factory=dict)  # unit -> mask paths of its class
    io_seconds: float = 0.0
    bad_files: List[Any] = field(default_factory=list)
    stop: bool = False

    @property
    def batch_plan(self) -> List[Any]:
        """Global batches over the units."""
        from fastxai.bench.loader import batch_plan

        return batch_plan(len(self.units), self.cfg.run.batch_size)

    def path(self, *parts: str) -> str:
        """A path inside the run folder."""
        return os.path.join(self.run_dir, *parts)

    def show_progress(self) -> bool:
        """Progress bars on rank 0 unless ``--quiet``."""
        return self.dist.is_main and not self.quiet


def environment(cfg: Any) -> Dict[str, Any]:
    """Versions, device and backend that every cell key includes."""
    return {"fastxai": fastxai.__version__, "torch": torch.__version__, "device": cfg.run.device,
            "backend": os.environ.get("FASTXAI_BACKEND", "auto")}


def provenance(ctx: Context) -> Dict[str, Any]:
    """``run.json``: what produced the numbers."""
    import numpy
    import sys

    cfg, t = ctx.cfg, ctx.table
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": sys.version.split()[0],
        "numpy": numpy.__version__, "host": platform.node(), "platform": platform.platform(),
        **environment(cfg), "world_size": ctx.dist.world, "torch_threads": torch.get_num_threads(),
        "dataset": {"id": t.dataset_id, "content_hash": t.content_hash, "root": cfg.dataset.root,
                    "n_samples": int(len(t.samples)), "n_bad_files": len(t.bad_files),
                    "split_hashes": {s: t.split_hash(s) for s in sorted(set(t.samples["split"].dropna()))}},
        "evaluated_splits": sorted(set(ctx.units["split"])) if len(ctx.units) else [],
        "n_units": int(len(ctx.units)),
        "models": {name: {"weights_hash": h, **_model_source(cfg, name)} for name, (_, h) in ctx.models.items()},
    }


def _model_source(cfg: Any, name: str) -> Dict[str, Any]:
    spec = next(m for m in cfg.models if m.name == name)
    return {"arch": spec.arch, "factory": spec.factory, "weights": spec.weights, "params": spec.params}


def units_hash(ctx: Context) -> str:
    """Hash of the unit list (which samples and classes, in which order)."""
    u = ctx.units
    return cell_key({"u": list(zip(u["sample_id"], u["target"].astype(int).tolist()))})


def predict_spec(ctx: Context, model: str) -> Dict[str, Any]:
    """Key material of a model's predict cell."""
    return {"stage": "predict", "model": model, "weights": ctx.models[model][1], "data": ctx.table.content_hash,
            "units": units_hash(ctx), "labels": ctx.cfg.dataset.labels, "task": ctx.cfg.dataset.task,
            "batch_size": ctx.cfg.run.batch_size, "env": environment(ctx.cfg)}


def explain_spec(ctx: Context, model: str, method: Any) -> Dict[str, Any]:
    """Key material of a (model, method) explain cell."""
    return {"stage": "explain", "model": model, "weights": ctx.models[model][1], "data": ctx.table.content_hash,
            "units": units_hash(ctx), "method": method.model_dump(), "seed": ctx.cfg.run.seed,
            "batch_size": ctx.cfg.run.batch_size, "env": environment(ctx.cfg)}


def evaluate_spec(ctx: Context, model: str, method: Any) -> Dict[str, Any]:
    """Key material of a (model, method) evaluate cell: its explain cell + the metric config."""
    return {"stage": "evaluate", "explain": cell_key(explain_spec(ctx, model, method)),
            "metrics": ctx.cfg.metrics.model_dump(), "chexlocalize": chex_thresholds(ctx.cfg)}


def chex_thresholds(cfg: Any) -> Optional[List[float]]:
    """cheXlocalize's threshold grid (``k / n`` for k < n) or None when the protocol is off."""
    c = cfg.chexlocalize
    return [k / c.n_thresholds for k in range(c.n_thresholds)] if c.enabled else None
