"""Running one cell across ranks: claim (rank 0), heartbeat, batch loop, merge, finish or fail.

``run_cell(ctx, keys, specs, body)``: rank 0 claims every key (a cell already done is left
alone), broadcasts the decision, runs ``body()`` on every rank, gathers the outcome of every
rank and, if all succeeded, lets ``body``'s ``finish`` callback compact the cells' parts, marks
them done and only then removes their parts (a kill in between leaves either the parts of a
running cell, which resume, or stale parts of a done cell, removed at the next claim);
otherwise each claimed cell is marked failed with every rank's error. A background thread
keeps the leases alive while the cell runs.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Tuple

import torch.distributed as dist

from fastxai.bench import parts
from fastxai.bench.errors import DiskFullError
from fastxai.bench.store import Store


class Heartbeat:
    """Extends the leases of ``keys`` every ``lease / 3`` seconds from a daemon thread."""

    def __init__(self, db_path: str, keys: List[str], owner: str, lease: float) -> None:
        self.keys, self.owner, self.lease = keys, owner, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(db_path,), daemon=True)

    def _loop(self, db_path: str) -> None:
        store = Store(db_path)
        try:
            while not self._stop.wait(self.lease / 3):
                for k in self.keys:
                    store.heartbeat(k, self.owner, self.lease)
        finally:
            store.close()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def gather(ctx: Any, item: Any) -> List[Any]:
    """``item`` of every rank, in rank order (all ranks call it)."""
    if ctx.dist.world == 1:
        return [item]
    out: List[Any] = [None] * ctx.dist.world
    dist.all_gather_object(out, item)
    return out


def remove_cell_parts(ctx: Any, key: str) -> None:
    """Delete a cell's score parts and map parts (after they were compacted and the cell marked done)."""
    parts.remove_parts(ctx.path("parts", key))
    parts.remove_parts(ctx.path("maps", key))


def claim_all(ctx: Any, cells: List[Tuple[str, str, str, str, Dict[str, Any]]]) -> Dict[str, bool]:
    """Rank 0 ensures and claims the cells; every rank gets ``{key: run it?}`` (done -> False)."""
    decision: Dict[str, bool] = {}
    if ctx.dist.is_main:
        t = time.perf_counter()
        for key, stage, model, method, spec in cells:
            ctx.store.ensure(key, stage, model, method, spec)
            done = ctx.store.status(key) == "done"
            if done:  # a kill between marking done and removing the parts leaves them behind
                remove_cell_parts(ctx, key)
            decision[key] = not done and ctx.store.claim(key, ctx.owner, ctx.cfg.run.lease_seconds)
        ctx.io_seconds += time.perf_counter() - t
    return ctx.dist.broadcast(decision)


def run_cell(ctx: Any, claimed: List[str], body: Callable[[], Any],
             finish: Callable[[List[Any], float], Dict[str, Dict[str, Any]]]) -> bool:
    """Run ``body`` on every rank, then ``finish(results_of_all_ranks, seconds)`` on rank 0.

    ``finish`` returns ``{key: {"n_samples": .., "summary": ..}}`` for the cells it completed.
    Returns True when every rank succeeded. A ``DiskFullError`` anywhere sets ``ctx.stop``.
    """
    t0 = time.perf_counter()
    result, error = None, None
    hb = Heartbeat(ctx.store.path, claimed, ctx.owner, ctx.cfg.run.lease_seconds) if ctx.dist.is_main else None
    try:
        if hb:
            hb.__enter__()
        try:
            result = body()
        except Exception as exc:  # noqa: BLE001 - recorded in the store, the run goes on
            error = (type(exc).__name__, str(exc), traceback.format_exc(), isinstance(exc, (DiskFullError,)) or
                     getattr(exc, "errno", None) == 28)
        outcomes = gather(ctx, (result, error))
        ok = all(e is None for _, e in outcomes)
        done: Dict[str, Dict[str, Any]] = {}
        if ok and ctx.dist.is_main:
            try:
                t_fin = time.perf_counter()
                done = finish([r for r, _ in outcomes], time.perf_counter() - t0)
                ctx.io_seconds += time.perf_counter() - t_fin
            except Exception as exc:  # noqa: BLE001
                outcomes = [(None, (type(exc).__name__, str(exc), traceback.format_exc(), False))]
                ok = False
    finally:
        if hb:
            hb.__exit__(None, None, None)
    seconds = time.perf_counter() - t0
    t_store = time.perf_counter()
    if ctx.dist.is_main:
        errors = [e for _, e in outcomes if e is not None]
        for key in claimed:
            if ok and key in done:
                ctx.store.finish(key, ctx.owner, seconds, done[key]["n_samples"], done[key]["summary"])
                remove_cell_parts(ctx, key)  # only once the cell is marked done
            elif not ok:
                msg = "; ".join(f"rank {i}: {e[0]}: {e[1]}" for i, (_, e) in enumerate(outcomes) if e)
                ctx.store.fail(key, ctx.owner, msg, "\n".join(e[2] for e in errors), seconds)
        ctx.io_seconds += time.perf_counter() - t_store
        if not ok and not ctx.quiet:
            print(f"  FAILED: {errors[0][0]}: {errors[0][1]}", flush=True)
    stop = any(e is not None and e[3] for _, e in outcomes)
    ctx.stop = ctx.stop or ctx.dist.broadcast(stop)
    return ctx.dist.broadcast(ok)
