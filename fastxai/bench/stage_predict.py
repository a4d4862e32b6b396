"""The predict stage: every evaluated image through each model -> (sample, class) scores.

Rows: ``sample_id, target (class index), label, y_true, y_score`` (sigmoid per class for
multi-label tasks, softmax for multi-class). The cell summary keeps the model-forward floor
measured here: seconds per row of a forward pass, and of a forward + backward pass with
respect to the input (``floor_*_s_per_row``), which the timing table uses.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Any, Dict, List

import torch

from fastxai.bench import parts
from fastxai.bench.cells import claim_all, run_cell
from fastxai.bench.context import Context, predict_spec
from fastxai.bench.store import cell_key


def prob_fn(cfg: Any, model: torch.nn.Module):
    """images -> (B, K) class probabilities."""
    if cfg.dataset.task == "multiclass":
        return lambda x: torch.softmax(model(x), dim=1)
    return lambda x: torch.sigmoid(model(x))


def image_units(ctx: Context) -> Any:
    """One unit per evaluated image (target 0): what the predict stage reads."""
    u = ctx.units.drop_duplicates("sample_id")[["sample_id"]].reset_index(drop=True)
    u.insert(0, "unit", range(len(u)))
    u["target"] = 0
    return u


def _floor(model: torch.nn.Module, x: torch.Tensor, repeats: int = 3) -> Dict[str, float]:
    fwd, both = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.no_grad():
            model(x)
        fwd.append(time.perf_counter() - t)
        xi = x.detach().clone().requires_grad_(True)
        t = time.perf_counter()
        model(xi).sum().backward()
        both.append(time.perf_counter() - t)
    model.zero_grad(set_to_none=True)
    n = x.shape[0]
    return {"floor_forward_s_per_row": statistics.median(fwd) / n,
            "floor_backward_s_per_row": max(statistics.median(both) - statistics.median(fwd), 0.0) / n}


def _body(ctx: Context, name: str, key: str):
    from fastxai.bench.loader import UnitDataset, make_loader, rank_batches, batch_plan

    model, _ = ctx.models[name]
    units = image_units(ctx)
    plan = batch_plan(len(units), ctx.cfg.run.batch_size)
    cell_dir = ctx.path("parts", key)
    todo = rank_batches(len(plan), ctx.dist.rank, ctx.dist.world, parts.done_batches(cell_dir))
    ds = UnitDataset(units, ctx.cfg.dataset.root, ctx.cfg.dataset.preprocess)
    y = ctx.table.samples.set_index("sample_id")
    labels = ctx.cfg.dataset.labels
    probs = prob_fn(ctx.cfg, model)
    floor: Dict[str, float] = {}
    progress = None
    if ctx.show_progress():
        from fastxai.bench.progress import bar

        progress = bar(len(todo), f"{name} / predict")
    for b, batch in zip(todo, make_loader(ds, plan, todo, ctx.cfg.run.num_workers)):
        ctx.bad_files.extend(batch["errors"])
        rows: Dict[str, List[Any]] = {"sample_id": [], "target": [], "label": [], "y_true": [], "y_score": []}
        if batch["image"] is not None:
            x = batch["image"].to(ctx.cfg.run.device)
            if not floor and ctx.dist.is_main:
                floor = _floor(model, x)
            with torch.no_grad():
                p = probs(x).to(torch.float64).cpu()
            for i, sid in enumerate(batch["sample_id"]):
                for k, lab in enumerate(labels):
                    rows["sample_id"].append(sid)
                    rows["target"].append(k)
                    rows["label"].append(lab)
                    rows["y_true"].append(int(y.at[sid, f"y_{lab}"]))
                    rows["y_score"].append(float(p[i, k]))
        _bad_or_fail(ctx, batch["errors"])
        t = time.perf_counter()
        parts.write_part(cell_dir, ctx.dist.rank, b, rows)
        ctx.io_seconds += time.perf_counter() - t
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    return floor


def _bad_or_fail(ctx: Context, errors: List[Any]) -> None:
    if errors and ctx.cfg.run.on_bad_file == "fail":
        from fastxai.bench.errors import BadFileError

        raise BadFileError(*errors[0])


def run_predict(ctx: Context, name: str) -> Dict[str, Any]:
    """Run (or resume, or skip) the predict cell of model ``name``; returns its summary."""
    spec = predict_spec(ctx, name)
    key = cell_key(spec)
    claimed = [k for k, run in claim_all(ctx, [(key, "predict", name, "", spec)]).items() if run]
    if claimed:

        def finish(results: List[Any], seconds: float) -> Dict[str, Dict[str, Any]]:
            floor = next((r for r in results if r), {})
            n = parts.compact(ctx.path("parts", key), ctx.path("results", f"{key}.parquet"))
            return {key: {"n_samples": n, "summary": floor}}

        run_cell(ctx, claimed, lambda: _body(ctx, name, key), finish)
    row = ctx.store.get(key) if ctx.dist.is_main else None
    row = ctx.dist.broadcast(row)
    import json

    return json.loads(row["summary"]) if row and row.get("summary") else {}


def results_path(ctx: Context, key: str) -> str:
    """The compacted results file of a cell."""
    return os.path.join(ctx.run_dir, "results", f"{key}.parquet")
