"""The aggregate stage (rank 0): tables from the finished cells, keyed like every other cell."""
from __future__ import annotations

import time
from typing import Any, Dict, List

from fastxai.bench.context import Context


def timings_table(ctx: Context, floors: Dict[str, Dict[str, float]]) -> Any:
    """``model, method, stage, seconds, n_samples, floor_seconds, model_rows, grad_rows``.

    ``floor_seconds`` (explain) = rows the method pushed through the model x the measured
    forward seconds per row + rows run with gradients x the backward seconds per row
    (approximate: measured at the run's batch size in the predict stage)."""
    import pandas as pd

    from fastxai.bench.run_reader import Run

    cells = Run(ctx.run_dir).cells()
    rows: List[Dict[str, Any]] = []
    for r in cells.itertuples():
        if r.status != "done":
            continue
        s = r.summary or {}
        f = floors.get(r.model, {})
        if r.stage == "explain":
            floor = (s.get("model_rows", 0) * f.get("floor_forward_s_per_row", float("nan"))
                     + s.get("grad_rows", 0) * f.get("floor_backward_s_per_row", float("nan")))
            rows.append({"model": r.model, "method": r.method, "stage": "explain", "seconds": s.get("seconds"),
                         "n_samples": r.n_samples, "floor_seconds": floor, "model_rows": s.get("model_rows"),
                         "grad_rows": s.get("grad_rows")})
        elif r.stage == "evaluate":
            rows.append({"model": r.model, "method": r.method, "stage": "evaluate",
                         "seconds": s.get("metric_seconds"), "n_samples": r.n_samples, "floor_seconds": float("nan"),
                         "model_rows": None, "grad_rows": None})
        elif r.stage == "predict":
            rows.append({"model": r.model, "method": "model", "stage": "predict", "seconds": r.seconds,
                         "n_samples": r.n_samples, "floor_seconds": r.n_samples / max(len(ctx.cfg.dataset.labels), 1)
                         * f.get("floor_forward_s_per_row", float("nan")), "model_rows": None, "grad_rows": None})
    return pd.DataFrame(rows, columns=["model", "method", "stage", "seconds", "n_samples", "floor_seconds",
                                       "model_rows", "grad_rows"])


def run_aggregate(ctx: Context, key: str, floors: Dict[str, Dict[str, float]]) -> bool:
    """Build (or skip, when done) the aggregate tables. True when done."""
    import traceback

    import pandas as pd

    from fastxai.bench.aggregate import COLUMNS, prediction_aggregates, score_aggregates, write_table
    from fastxai.bench.chexlocalize import chexlocalize_tables
    from fastxai.bench.run_reader import Run

    st = ctx.store
    st.ensure(key, "aggregate", "", "", {"stage": "aggregate"})
    upstream = [r for r in st.rows() if r["stage"] != "aggregate"]
    if any(r["status"] != "done" for r in upstream):
        return False
    if st.status(key) == "done" or not st.claim(key, ctx.owner, ctx.cfg.run.lease_seconds):
        return st.status(key) == "done"
    t0 = time.perf_counter()
    try:
        run = Run(ctx.run_dir)
        samples = run.samples()
        scores = run.scores()
        evaluated = set(samples.loc[samples["split"] == ctx.cfg.split.evaluate, "sample_id"])
        rows = score_aggregates(scores[scores["sample_id"].isin(evaluated)], samples, ctx.cfg)
        rows += prediction_aggregates(run.predictions().rename(columns={"target": "label"}), samples, ctx.cfg)
        if ctx.cfg.chexlocalize.enabled:
            chex, thr = chexlocalize_tables(run.curves(), scores, samples, ctx.cfg)
            rows += chex
            write_table(pd.DataFrame(thr), ctx.path("tables"), "chexlocalize_thresholds")
        agg = pd.DataFrame(rows, columns=COLUMNS)
        write_table(agg, ctx.path("tables"), "aggregates")
        write_table(timings_table(ctx, floors), ctx.path("tables"), "timings")
        st.finish(key, ctx.owner, time.perf_counter() - t0, len(agg), {"rows": len(agg)})
        return True
    except Exception as exc:  # noqa: BLE001 - recorded; earlier stages stay done
        st.fail(key, ctx.owner, f"{type(exc).__name__}: {exc}", traceback.format_exc(), time.perf_counter() - t0)
        if not ctx.quiet:
            print(f"aggregate FAILED: {type(exc).__name__}: {exc}")
        return False
