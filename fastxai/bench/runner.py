"""``run_bench(config)``: data -> models -> predict -> explain/evaluate per method -> aggregate.

Every stage is a set of cells in the run folder's store, so re-running the same command resumes:
done cells are skipped, failed ones re-run, expired leases taken over. Under torchrun every rank
runs this function; rank 0 makes the store's decisions and writes the tables.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Union

import torch

from fastxai.bench import dist as bdist
from fastxai.bench.context import Context, evaluate_spec, explain_spec, predict_spec, provenance
from fastxai.bench.store import Store, cell_key, new_owner


def _prepare_folder(ctx: Context, config_path: Optional[str]) -> None:
    os.makedirs(ctx.run_dir, exist_ok=True)
    for sub in ("parts", "results", "tables", "dataset"):
        os.makedirs(ctx.path(sub), exist_ok=True)
    if config_path:
        ext = os.path.splitext(config_path)[1] or ".toml"
        shutil.copyfile(config_path, ctx.path(f"config{ext}"))
    with open(ctx.path("resolved_config.json"), "w") as f:
        json.dump(ctx.cfg.model_dump(mode="json"), f, indent=1)
    t = ctx.table
    t.samples.to_parquet(ctx.path("dataset", "samples.parquet"), index=False)
    t.boxes.to_parquet(ctx.path("dataset", "boxes.parquet"), index=False)
    ctx.units.to_parquet(ctx.path("dataset", "units.parquet"), index=False)


def _units(cfg: Any, table: Any) -> Any:
    import pandas as pd

    from fastxai.bench.dataset import explain_units

    splits = [cfg.split.evaluate] + ([cfg.chexlocalize.val_split] if cfg.chexlocalize.enabled else [])
    frames = []
    for s in splits:
        u = explain_units(table, s, cfg.explain.targets, cfg.run.max_samples)
        frames.append(u.assign(split=s))
    out = pd.concat(frames, ignore_index=True)
    out["unit"] = range(len(out))
    return out


def _unit_annotations(ctx: Context) -> None:
    t = ctx.table
    by_key: Dict[Any, List[List[float]]] = {}
    for r in t.boxes.itertuples():
        by_key.setdefault((r.sample_id, r.finding), []).append([r.x0, r.y0, r.x1, r.y1])
    masks: Dict[Any, List[str]] = {}
    for r in t.masks.itertuples():
        masks.setdefault((r.sample_id, r.finding), []).append(r.mask)
    for r in ctx.units.itertuples():
        key = (r.sample_id, r.label)
        if key in by_key:
            ctx.unit_boxes[int(r.unit)] = torch.tensor(by_key[key], dtype=torch.float32)
        if key in masks:
            ctx.unit_masks[int(r.unit)] = masks[key]


def _build_models(ctx: Context) -> None:
    from fastxai.bench.modelspec import build_model, weights_hash

    for turn in ((True,) if ctx.dist.world == 1 else (True, False)):
        if ctx.dist.is_main == turn:  # rank 0 first (it trains and caches), then the others read the cache
            for spec in ctx.cfg.models:
                model = build_model(spec, ctx.cfg, ctx.table, quiet=ctx.quiet)
                ctx.models[spec.name] = (model, weights_hash(model))
        ctx.dist.barrier()


def plan_keys(ctx: Context) -> List[str]:
    """Every cell key of the current config, in run order."""
    from fastxai.bench.methods import method_specs

    keys = []
    for m in ctx.cfg.models:
        keys.append(cell_key(predict_spec(ctx, m.name)))
        for meth in method_specs(ctx.cfg):
            keys += [cell_key(explain_spec(ctx, m.name, meth)), cell_key(evaluate_spec(ctx, m.name, meth))]
    return keys + [aggregate_key(ctx)]


def aggregate_key(ctx: Context) -> str:
    """The aggregate cell: every upstream key + the group and protocol settings."""
    from fastxai.bench.methods import method_specs

    upstream = [cell_key(predict_spec(ctx, m.name)) for m in ctx.cfg.models]
    upstream += [cell_key(evaluate_spec(ctx, m.name, meth)) for m in ctx.cfg.models for meth in method_specs(ctx.cfg)]
    return cell_key({"stage": "aggregate", "upstream": upstream, "groups": ctx.cfg.groups.model_dump(),
                     "chexlocalize": ctx.cfg.chexlocalize.model_dump(), "split": ctx.cfg.split.evaluate})


def make_context(cfg: Any, quiet: bool = False, config_path: Optional[str] = None) -> Context:
    """Join ranks, read the data, build the models, open the store (every rank)."""
    from fastxai.bench.dataset import build_table

    if cfg.run.torch_threads:
        torch.set_num_threads(cfg.run.torch_threads)
    d = bdist.init(cfg.run.device)
    table = build_table(cfg)
    run_dir = cfg.run.out
    if d.is_main:
        os.makedirs(run_dir, exist_ok=True)
    d.barrier()
    ctx = Context(cfg, run_dir, table, _units(cfg, table), d, Store(os.path.join(run_dir, "store.sqlite")),
                  d.broadcast(new_owner()), quiet)
    ctx.bad_files.extend(table.bad_files)
    _unit_annotations(ctx)
    if d.is_main:
        _prepare_folder(ctx, config_path)
    _build_models(ctx)
    return ctx


def run_bench(config: Union[str, Any], quiet: bool = False, overrides: Optional[Dict[str, Any]] = None,
              config_path: Optional[str] = None) -> int:
    """Run (or resume) the benchmark of ``config`` (a path or a ``BenchConfig``); 0 if every cell is done.

    Rank 0 also writes ``run.json``, the tables and (``run.report``, when ``fastxai.report`` is
    installed) ``report.html``.
    """
    from fastxai.bench.config_load import load_config
    from fastxai.bench.methods import method_specs
    from fastxai.bench.stage_aggregate import run_aggregate
    from fastxai.bench.stage_explain import run_method
    from fastxai.bench.stage_predict import run_predict

    path = str(config) if isinstance(config, (str, os.PathLike)) else config_path
    cfg = load_config(path, overrides) if isinstance(config, (str, os.PathLike)) else config
    t0 = time.perf_counter()
    ctx = make_context(cfg, quiet, path)
    try:
        if ctx.dist.is_main:
            ctx.store.set_plan(plan_keys(ctx))
        floors = {}
        for m in cfg.models:
            floors[m.name] = run_predict(ctx, m.name)
            for meth in method_specs(cfg):
                if ctx.stop:
                    break
                run_method(ctx, m.name, meth)
        ok = False
        if ctx.dist.is_main and not ctx.stop:
            ok = run_aggregate(ctx, aggregate_key(ctx), floors)
        ok = ctx.dist.broadcast(ok)
        _gather_bad_files(ctx)
        if ctx.dist.is_main:
            _finish_run(ctx, time.perf_counter() - t0)
        return 0 if ok and _all_done(ctx) else 1
    finally:
        ctx.store.close()
        ctx.dist.close()


def _gather_bad_files(ctx: Context) -> None:
    """Every rank's unreadable files, on rank 0 (for ``bad_files.csv``)."""
    from fastxai.bench.cells import gather

    ctx.bad_files = [tuple(b) for rank in gather(ctx, list(ctx.bad_files)) for b in rank]


def _all_done(ctx: Context) -> bool:
    done = True
    if ctx.dist.is_main:
        done = all(r["status"] == "done" for r in ctx.store.rows())
    return bool(ctx.dist.broadcast(done))


def _finish_run(ctx: Context, wall: float) -> None:
    from fastxai.bench.summary import print_summary, write_bad_files

    prov = provenance(ctx)
    prov.update({"wall_seconds": wall, "store_io_seconds": ctx.io_seconds})
    with open(ctx.path("run.json"), "w") as f:
        json.dump(prov, f, indent=1, default=str)
    write_bad_files(ctx)
    if not ctx.quiet:
        print_summary(ctx)
    if ctx.cfg.run.report and all(r["status"] == "done" for r in ctx.store.rows()):
        try:
            from fastxai.report import build_report
        except ImportError:
            return
        try:
            out = build_report(ctx.run_dir)
            if not ctx.quiet:
                print(f"report: {out}")
        except Exception as exc:  # noqa: BLE001 - the benchmark's results stand without the page
            print(f"report not written: {type(exc).__name__}: {exc}")
