"""``fastxai profile``: where the time of one method on one model and one batch goes.

Measured from outside the engine (its stage timings are not public API):
* ``load``: reading + decoding + preprocessing the batch (the bench's loader, no workers);
* ``host_to_device``: copying the batch to ``run.device`` (0 on CPU: nothing to copy);
* ``forward``: time inside the model's forward calls (a pre-hook and a hook on the model);
* ``backward``: time inside ``torch.autograd.grad`` calls (how fastxai's gradient engine and
  LRP backpropagate; includes any op between the model output and the input);
* ``engine_other``: the rest of the method call — mask / path generation, reductions, chunk
  bookkeeping — which can only be measured together from outside (approximate split);
* ``evaluator``: the configured metrics on the maps (``fastxai.bench.metrics.score_batch``).
The **floor** replays the model calls the method made — the same batch shapes, forward only
where the method ran without gradients, forward + backward where it had them — on fresh random
inputs: what the model alone costs; ``overhead %`` = (method − floor) / floor. Medians over
``repeats`` calls after one warm-up call; an optional ``torch.profiler`` trace (Chrome JSON).
"""
from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

import torch


class CallRecorder:
    """Times model forwards and autograd.grad calls, and records each forward's batch shape."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.forward_s = self.backward_s = 0.0
        self.calls: List[Tuple[Tuple[int, ...], bool]] = []
        self._t0: List[float] = []

    def _pre(self, module: Any, args: Any) -> None:
        self._t0.append(time.perf_counter())

    def _post(self, module: Any, args: Any, out: Any) -> None:
        self.forward_s += time.perf_counter() - self._t0.pop()
        if args and isinstance(args[0], torch.Tensor):
            self.calls.append((tuple(args[0].shape), torch.is_grad_enabled()))

    @contextlib.contextmanager
    def active(self):
        """Install the hooks and the ``torch.autograd.grad`` timer for the block."""
        h1 = self.model.register_forward_pre_hook(self._pre)
        h2 = self.model.register_forward_hook(self._post)
        original = torch.autograd.grad

        def timed_grad(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.backward_s += time.perf_counter() - t

        torch.autograd.grad = timed_grad
        try:
            yield self
        finally:
            torch.autograd.grad = original
            h1.remove()
            h2.remove()


def replay_floor(model: torch.nn.Module, calls: List[Tuple[Tuple[int, ...], bool]], device: Any) -> float:
    """Seconds to run the recorded forward calls again (forward + input-gradient where grad was on)."""
    t = time.perf_counter()
    for shape, grad in calls:
        x = torch.randn(shape, device=device)
        if grad:
            x.requires_grad_(True)
            out = model(x)
            torch.autograd.grad(out.sum(), x)
        else:
            with torch.no_grad():
                model(x)
    return time.perf_counter() - t


def _one(explainer: Any, model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, ids: List[str]) -> Dict:
    rec = CallRecorder(model)
    with rec.active():
        t0 = time.perf_counter()
        maps = explainer(x, t, ids)
        total = time.perf_counter() - t0
    return {"total": total, "forward": rec.forward_s, "backward": rec.backward_s, "calls": rec.calls, "maps": maps}


def profile_method(cfg: Any, model_name: str, method_label: str, repeats: int = 3, batch_size: Optional[int] = None,
                   trace: Optional[str] = None) -> Dict[str, Any]:
    """Per-stage seconds, throughput, floor and overhead for one batch of the evaluated split."""
    from fastxai.bench.dataset import build_table, explain_units
    from fastxai.bench.loader import UnitDataset, collate
    from fastxai.bench.methods import Explainer, method_specs
    from fastxai.bench.modelspec import build_model

    specs = {m.key(): m for m in method_specs(cfg)}
    if method_label not in specs:
        raise KeyError(f"method {method_label!r} not in the config (known: {', '.join(specs)})")
    mspec = next((m for m in cfg.models if m.name == model_name), None)
    if mspec is None:
        raise KeyError(f"model {model_name!r} not in the config (known: {', '.join(m.name for m in cfg.models)})")
    table = build_table(cfg)
    model = build_model(mspec, cfg, table)
    units = explain_units(table, cfg.split.evaluate, cfg.explain.targets).iloc[: batch_size or cfg.run.batch_size]
    ds = UnitDataset(units.reset_index(drop=True), cfg.dataset.root, cfg.dataset.preprocess)
    t0 = time.perf_counter()
    batch = collate([ds[i] for i in range(len(ds))])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = batch["image"].to(cfg.run.device, copy=not str(cfg.run.device).startswith("cpu"))
    h2d = time.perf_counter() - t0 if not str(cfg.run.device).startswith("cpu") else 0.0
    target = batch["target"].to(x.device)
    explainer = Explainer(specs[method_label], model, cfg.run.seed)
    _one(explainer, model, x, target, batch["sample_id"])  # warm-up (chunk-size search, caches)
    runs = [_one(explainer, model, x, target, batch["sample_id"]) for _ in range(repeats)]
    floors = [replay_floor(model, runs[0]["calls"], x.device) for _ in range(repeats)]
    ev = _evaluator_seconds(cfg, model, batch, runs[0]["maps"], x, table, units)
    if trace:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            explainer(x, target, batch["sample_id"])
        prof.export_chrome_trace(trace)
    med = {k: statistics.median(r[k] for r in runs) for k in ("total", "forward", "backward")}
    floor = statistics.median(floors)
    n = x.shape[0]
    return {
        "model": model_name, "method": method_label, "batch": n, "device": str(x.device),
        "model_rows": sum(s[0] for s, _ in runs[0]["calls"]), "model_calls": len(runs[0]["calls"]),
        "stages": {"load": load_s, "host_to_device": h2d, "forward": med["forward"], "backward": med["backward"],
                   "engine_other": max(med["total"] - med["forward"] - med["backward"], 0.0), "evaluator": ev},
        "method_seconds": med["total"], "samples_per_s": n / med["total"] if med["total"] else float("inf"),
        "floor_seconds": floor, "overhead_pct": 100.0 * (med["total"] - floor) / floor if floor else float("nan"),
        "trace": trace,
    }


def _evaluator_seconds(cfg: Any, model: torch.nn.Module, batch: Dict, maps: torch.Tensor, x: torch.Tensor,
                       table: Any, units: Any) -> float:
    from fastxai.bench.metrics import EvalBatch, score_batch
    from fastxai.bench.stage_predict import prob_fn

    lookup: Dict[Any, List[List[float]]] = {}
    for r in table.boxes.itertuples():
        lookup.setdefault((r.sample_id, r.finding), []).append([r.x0, r.y0, r.x1, r.y1])
    boxes = [torch.tensor(lookup.get((s, lab), []), dtype=torch.float32).reshape(-1, 4)
             for s, lab in zip(units["sample_id"], units["label"])]
    eb = EvalBatch(maps, x, batch["target"].to(x.device), boxes, None, prob_fn(cfg, model))
    m = cfg.metrics
    t0 = time.perf_counter()
    score_batch(list(m.names), eb, m.curve_steps, m.border, m.max_batch)
    return time.perf_counter() - t0


def format_profile(p: Dict[str, Any]) -> str:
    """A plain-text breakdown of ``profile_method``'s result."""
    from fastxai.bench.progress import table

    total = p["method_seconds"]
    rows = [[k, v, 100.0 * v / total if total and k in ("forward", "backward", "engine_other") else "-"]
            for k, v in p["stages"].items()]  # load / host_to_device / evaluator lie outside the method call
    head = (f"{p['method']} on {p['model']}, batch {p['batch']} ({p['device']}): {total:.4f} s per call, "
            f"{p['samples_per_s']:.1f} samples/s; {p['model_calls']} model calls, {p['model_rows']} rows\n"
            f"model-forward floor (replayed calls): {p['floor_seconds']:.4f} s; engine overhead "
            f"{p['overhead_pct']:.1f} %\n")
    note = ("(forward / backward from hooks on the model and torch.autograd.grad; engine_other = mask or path "
            "generation + reductions + bookkeeping, measured together)")
    return head + table(rows, ["stage", "seconds", "% of method"]) + "\n" + note
