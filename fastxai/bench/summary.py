"""The end-of-run summary table and the bad-file report."""
from __future__ import annotations

import csv
from typing import Any

from fastxai.bench.progress import table

SUMMARY_METRICS = ("pointing_game", "hit_rate", "energy_pointing_game", "iou_otsu", "border_mass", "deletion_auc",
                   "insertion_auc")


def summary_text(ctx: Any) -> str:
    """Method x metric means (overall, with 95 % CIs where computed) and the cell status counts."""
    from fastxai.bench.run_reader import Run

    run = Run(ctx.run_dir)
    agg = run.aggregates()
    cells = run.cells()
    lines = []
    if len(agg):
        a = agg[(agg["group_feature"] == "all") & (agg["target"] == "all") & (agg["method"] != "model")]
        metrics = [m for m in SUMMARY_METRICS if m in set(a["metric"])] or sorted(set(a["metric"]))[:6]
        rows = []
        for (model, method), sub in a.groupby(["model", "method"], sort=False):
            vals = sub.set_index("metric")["value"]
            rows.append([model, method] + [float(vals.get(m, float("nan"))) for m in metrics])
        lines.append(table(rows, ["model", "method", *metrics]))
    counts = cells["status"].value_counts().to_dict() if len(cells) else {}
    lines.append("cells: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for r in cells[cells["status"] == "failed"].itertuples():
        lines.append(f"  failed {r.stage} {r.model} {r.method}: {r.error}")
    if ctx.bad_files:
        lines.append(f"bad files skipped: {len(ctx.bad_files)} (listed in bad_files.csv)")
    return "\n".join(lines)


def print_summary(ctx: Any) -> None:
    """Print ``summary_text``."""
    print(summary_text(ctx), flush=True)


def write_bad_files(ctx: Any) -> None:
    """``bad_files.csv``: every unreadable file seen in this run (path, reason)."""
    seen = sorted(set(map(tuple, ctx.bad_files)))
    with open(ctx.path("bad_files.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        w.writerows(seen)
