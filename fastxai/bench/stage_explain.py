"""The explain and evaluate stages of one (model, method), run batch by batch.

For each global batch of this rank that the evaluate cell has not finished: the maps come
from the saved maps (``run.save_maps``) or are computed (the method call is timed, and the
model rows it ran are counted by a forward pre-hook); the explain cell's part holds the batch's
timing row (when saving maps, a ``fastxai.bench.maps_store`` part is written just before it); the
metrics are computed (timed) and the evaluate cell's part holds one row per (unit, metric) and per curve point.
Finished batches of either cell are never recomputed; their scores are re-read into the
evaluator state (``ScoreState``), which merges across ranks at the end of the cell.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from fastxai.bench import maps_store, parts
from fastxai.bench.context import Context, chex_thresholds, evaluate_spec, explain_spec
from fastxai.bench.metrics import EvalBatch, randomisation_scores, score_batch
from fastxai.bench.methods import Explainer, explainer_factory
from fastxai.bench.stage_predict import prob_fn
from fastxai.bench.states import ScoreState
from fastxai.bench.store import cell_key


class RowCounter:
    """Counts rows through ``model.forward`` (and those run with grad enabled) via a pre-hook."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.rows = self.grad_rows = 0
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, module: Any, args: Any) -> None:
        if args and isinstance(args[0], torch.Tensor):
            n = int(args[0].shape[0])
            self.rows += n
            self.grad_rows += n if torch.is_grad_enabled() else 0

    def close(self) -> None:
        """Remove the hook."""
        self.handle.remove()


def metric_names(ctx: Context) -> List[str]:
    """Columns of the evaluator state: configured metrics (+ randomisation)."""
    names = list(ctx.cfg.metrics.names)
    return names + (["randomisation_spearman"] if ctx.cfg.metrics.randomisation.enabled else [])


def _unit_boxes(ctx: Context, units: torch.Tensor) -> List[torch.Tensor]:
    lookup = ctx.unit_boxes
    return [lookup.get(int(u), torch.zeros(0, 4)) for u in units]


def _unit_masks(ctx: Context, units: torch.Tensor, hw: Any) -> Optional[torch.Tensor]:
    if not ctx.unit_masks:
        return None
    from fastxai.bench.imageio import read_mask

    out = torch.zeros((len(units), *hw), dtype=torch.bool)
    for i, u in enumerate(units.tolist()):
        for path in ctx.unit_masks.get(u, []):
            out[i] |= read_mask(path, hw)
    return out


def _score_rows(units: torch.Tensor, sids: List[str], targets: torch.Tensor, values: Dict[str, torch.Tensor],
                curves: Dict[str, torch.Tensor], names: List[str]) -> Dict[str, Any]:
    """Long rows (vectorised): one per (unit, measured metric) and per (unit, curve, step)."""
    n = len(sids)
    u = units.to(torch.int64).numpy()
    t = targets.to(torch.int64).numpy()
    sid = np.asarray(sids, dtype=object)
    cols: Dict[str, List[Any]] = {k: [] for k in ("unit", "sample_id", "target", "kind", "name", "step", "value")}

    def add(idx: np.ndarray, kind: str, name: str, step: np.ndarray, value: np.ndarray) -> None:
        for k, v in zip(cols, (u[idx], sid[idx], t[idx], np.full(idx.size, kind, dtype=object),
                               np.full(idx.size, name, dtype=object), step, value)):
            cols[k].append(v)

    for name in names:
        if name in values and n:
            v = values[name].to(torch.float64).numpy()
            keep = np.flatnonzero(~np.isnan(v))
            add(keep, "score", name, np.full(keep.size, -1, dtype=np.int64), v[keep])
    for cname, c in curves.items():
        if n:
            s = c.shape[1]
            add(np.repeat(np.arange(n), s), "curve", cname, np.tile(np.arange(s, dtype=np.int64), n),
                c.to(torch.float64).numpy().reshape(-1))
    empty = {"unit": np.int64, "sample_id": object, "target": np.int64, "kind": object, "name": object,
             "step": np.int64, "value": np.float64}
    return {k: (np.concatenate(v) if v else np.empty(0, dtype=empty[k])).tolist() if empty[k] is object
            else (np.concatenate(v) if v else np.empty(0, dtype=empty[k])) for k, v in cols.items()}


def _explain(ctx: Context, explainer: Explainer, model: torch.nn.Module, batch: Dict[str, Any]) -> Dict[str, Any]:
    counter = RowCounter(model)
    try:
        t = time.perf_counter()
        maps = explainer(batch["image"], batch["target"].to(batch["image"].device), batch["sample_id"])
        seconds = time.perf_counter() - t
    finally:
        counter.close()
    return {"maps": maps.float().cpu(), "seconds": seconds, "rows": counter.rows, "grad_rows": counter.grad_rows}


def _evaluate(ctx: Context, model: torch.nn.Module, method: Any, batch: Dict[str, Any],
              maps: torch.Tensor) -> Dict[str, Any]:
    m = ctx.cfg.metrics
    x = batch["image"]
    eb = EvalBatch(maps.to(x.device), x, batch["target"].to(x.device), _unit_boxes(ctx, batch["unit"]),
                   _unit_masks(ctx, batch["unit"], tuple(x.shape[-2:])), prob_fn(ctx.cfg, model))
    t = time.perf_counter()
    values, curves = score_batch(list(m.names), eb, m.curve_steps, m.border, m.max_batch)
    thr = chex_thresholds(ctx.cfg)
    if thr is not None:
        import fastxai.eval as fe

        from fastxai.bench.metrics import annotated

        idx = annotated(eb).nonzero().flatten()
        c = torch.full((len(eb.boxes), len(thr)), float("nan"), dtype=torch.float64)
        if idx.numel():
            ann = ({"masks": eb.masks[idx]} if eb.masks is not None else
                   {"boxes": [eb.boxes[i] for i in idx.tolist()], "image_size": tuple(x.shape[-2:])})
            c[idx] = fe.overlap_at_thresholds(eb.maps[idx], **ann, thresholds=thr, normalise="minmax",
                                              strict=True, measure="iou").to(torch.float64)
        curves["chexlocalize_iou"] = c
    if m.randomisation.enabled:
        r = torch.full((x.shape[0],), float("nan"), dtype=torch.float64)
        k = int((batch["unit"] < m.randomisation.n_samples).sum())
        if k and not method.name.startswith("baseline:"):
            r[:k] = randomisation_scores(model, explainer_factory(method, ctx.cfg.run.seed), x[:k], eb.targets[:k],
                                         batch["sample_id"][:k], m.randomisation.order, ctx.cfg.run.seed)
        values["randomisation_spearman"] = r
    return {"values": values, "curves": curves, "seconds": time.perf_counter() - t}


def _load_done_scores(ctx: Context, vkey: str, state: ScoreState, names: List[str]) -> None:
    """Re-read the scores of this rank's finished batches into the evaluator state."""
    done = parts.done_batches(ctx.path("parts", vkey))
    mine = [b for b in done if b % ctx.dist.world == ctx.dist.rank]
    table = parts.read_parts(ctx.path("parts", vkey), mine)
    if table is None:
        return
    df = table.to_pandas()
    df = df[df["kind"] == "score"]
    if df.empty:
        return
    wide = df.pivot_table(index="unit", columns="name", values="value", aggfunc="first")
    wide = wide.reindex(columns=names)
    state.update(torch.tensor(wide.index.to_numpy(), dtype=torch.int64),
                 torch.tensor(wide.to_numpy(dtype=np.float64)))


def _batch_todo(ctx: Context, ekey: str, vkey: str, run_e: bool) -> List[int]:
    """This rank's batches missing from the evaluate cell (or from the explain cell if it runs)."""
    from fastxai.bench.loader import rank_batches

    mine = rank_batches(len(ctx.batch_plan), ctx.dist.rank, ctx.dist.world)
    v_done = parts.done_batches(ctx.path("parts", vkey))
    e_done = parts.done_batches(ctx.path("parts", ekey)) if run_e else set(mine)
    return [b for b in mine if b not in v_done or b not in e_done]


def _body(ctx: Context, model_name: str, method: Any, ekey: str, vkey: str, run_e: bool, progress: Any) -> Dict:
    from fastxai.bench.loader import UnitDataset, make_loader

    model, _ = ctx.models[model_name]
    names = metric_names(ctx)
    state = ScoreState(names)
    _load_done_scores(ctx, vkey, state, names)
    todo = _batch_todo(ctx, ekey, vkey, run_e)
    v_done = parts.done_batches(ctx.path("parts", vkey))
    explainer = Explainer(method, model, ctx.cfg.run.seed)
    saved = maps_store.SavedMaps(ctx.run_dir, ekey)
    ds = UnitDataset(ctx.units, ctx.cfg.dataset.root, ctx.cfg.dataset.preprocess)
    e_done = parts.done_batches(ctx.path("parts", ekey))
    totals = {"explain_s": 0.0, "evaluate_s": 0.0}
    for b, batch in zip(todo, make_loader(ds, ctx.batch_plan, todo, ctx.cfg.run.num_workers)):
        ctx.bad_files.extend(batch["errors"])
        if batch["errors"] and ctx.cfg.run.on_bad_file == "fail":
            from fastxai.bench.errors import BadFileError

            raise BadFileError(*batch["errors"][0])
        if batch["image"] is not None:
            batch["image"] = batch["image"].to(ctx.cfg.run.device)
            ex = saved.get(b, batch["unit"])  # saved maps (with their timing): never recomputed
            if ex is not None:
                maps = ex["maps"]
            else:
                ex = _explain(ctx, explainer, model, batch)
                maps = ex["maps"]
                totals["explain_s"] += ex["seconds"]
            rows = None
            if b not in v_done:
                ev = _evaluate(ctx, model, method, batch, maps)
                totals["evaluate_s"] += ev["seconds"]
                rows = _score_rows(batch["unit"], batch["sample_id"], batch["target"], ev["values"], ev["curves"],
                                   names)
                nan = torch.full((len(batch["unit"]),), float("nan"), dtype=torch.float64)
                state.update(batch["unit"], torch.stack([ev["values"].get(n, nan) for n in names], 1))
        else:
            ex, maps, rows = None, None, _score_rows(torch.zeros(0), [], torch.zeros(0), {}, {}, names)
        t = time.perf_counter()
        if run_e and b not in e_done and (ex is not None or batch["image"] is None):
            if ctx.cfg.run.save_maps and maps is not None and not ex.get("loaded"):
                maps_store.write_batch(ctx.run_dir, ekey, ctx.dist.rank, b, batch["unit"], batch["sample_id"], maps,
                                       ex["seconds"], ex["rows"], ex["grad_rows"])
            parts.write_part(ctx.path("parts", ekey), ctx.dist.rank, b, _timing_row(b, ctx.dist.rank, batch, ex))
        if b not in v_done:
            parts.write_part(ctx.path("parts", vkey), ctx.dist.rank, b, rows)
        ctx.io_seconds += time.perf_counter() - t
        if progress is not None:
            progress.update(1)
    state.sync()
    return {"state": state if ctx.dist.is_main else None, **totals}


def _timing_row(b: int, rank: int, batch: Dict[str, Any], ex: Optional[Dict[str, Any]]) -> Dict[str, List[Any]]:
    n = 0 if batch["image"] is None else int(batch["image"].shape[0])
    return {"batch": [b], "rank": [rank], "n_units": [n], "seconds": [ex["seconds"] if ex else 0.0],
            "model_rows": [ex["rows"] if ex else 0], "grad_rows": [ex["grad_rows"] if ex else 0]}


def _finish(ctx: Context, ekey: str, vkey: str, run_e: bool, results: List[Dict], seconds: float) -> Dict:
    n_batches = len(ctx.batch_plan)
    out: Dict[str, Dict[str, Any]] = {}
    if run_e:
        e_dir = ctx.path("parts", ekey)
        if parts.done_batches(e_dir) != set(range(n_batches)):
            raise RuntimeError(f"explain cell {ekey}: batches missing after every rank finished")
        timing = parts.read_parts(e_dir)
        t = timing.to_pandas() if timing is not None else None
        parts.compact(e_dir, ctx.path("results", f"{ekey}.parquet"))
        if ctx.cfg.run.save_maps:
            maps_store.compact(ctx.run_dir, ekey, ctx.cfg.run.maps_dtype)
        out[ekey] = {"n_samples": int(t["n_units"].sum()) if t is not None else 0,
                     "summary": {"seconds": float(t["seconds"].sum()) if t is not None else 0.0,
                                 "model_rows": int(t["model_rows"].sum()) if t is not None else 0,
                                 "grad_rows": int(t["grad_rows"].sum()) if t is not None else 0}}
    v_dir = ctx.path("parts", vkey)
    if parts.done_batches(v_dir) != set(range(n_batches)):
        raise RuntimeError(f"evaluate cell {vkey}: batches missing after every rank finished")
    state = results[0]["state"]
    units, _ = state.rows()
    n = parts.compact(v_dir, ctx.path("results", f"{vkey}.parquet"))
    scored = set(parts.read_table(ctx.path("results", f"{vkey}.parquet")).query("kind == 'score'")["unit"]) \
        if n else set()
    if not scored <= set(units.tolist()):
        raise RuntimeError(f"evaluate cell {vkey}: stored rows and merged evaluator state disagree")
    out[vkey] = {"n_samples": int(units.numel()),
                 "summary": {"metrics": state.compute(), "metric_seconds": sum(r["evaluate_s"] for r in results),
                             "explain_seconds_this_attempt": sum(r["explain_s"] for r in results)}}
    return out


def run_method(ctx: Context, model_name: str, method: Any) -> bool:
    """Run (or resume, or skip) the explain and evaluate cells of (model, method). True if done."""
    from fastxai.bench.cells import claim_all, run_cell

    espec, vspec = explain_spec(ctx, model_name, method), evaluate_spec(ctx, model_name, method)
    ekey, vkey = cell_key(espec), cell_key(vspec)
    label = method.key()
    decision = claim_all(ctx, [(ekey, "explain", model_name, label, espec), (vkey, "evaluate", model_name, label,
                                                                              vspec)])
    claimed = [k for k, run in decision.items() if run]
    if not claimed:
        return True
    run_e = decision[ekey]
    if not decision[vkey]:  # evaluate done (or held elsewhere): leave the explain cell for later
        if ctx.dist.is_main:
            ctx.store.reset(ekey)
        return True
    progress = None
    if ctx.show_progress():
        from fastxai.bench.progress import bar

        progress = bar(len(ctx.batch_plan), f"{model_name} / {label}")
    try:
        ok = run_cell(ctx, claimed, lambda: _body(ctx, model_name, method, ekey, vkey, run_e, progress),
                      lambda res, s: _finish(ctx, ekey, vkey, run_e, res, s))
    finally:
        if progress is not None:
            progress.close()
    return ok
