"""Evaluator bench: fastxai vs Quantus 0.6 (localisation) and fairlearn 0.15 (group metrics).

Run: ``python benches/bench_eval.py`` (small defaults, < 2 min on 2 cores) or with
``--maps 1000 --rows 1000000`` for the issue's sizes. One torch thread; anchor and fastxai
interleaved (A B A B ...), median of ``--repeats`` (>= 5) rounds; ratios = anchor / fastxai.
Quantus "as shipped" runs on ``--quantus-maps`` maps (its cost is linear in N: ~95 % is a
Python-set check over all values) and is scaled to ``--maps``; the scaling is stated in the
table. fairlearn's bootstrap runs a small ``n_boot`` and is scaled per resample. ``--full`` adds
the issue-size group rows (``benches/bench_eval_groups.py``: ``group_report`` vs a plain torch
baseline vs fairlearn at 1,000,000 rows x 6 groups, 1 and 2 threads, ``--report-repeats`` rounds;
the bootstrap, fastxai 1,000 resamples vs fairlearn 10 scaled, 2 rounds - fairlearn needs ~25 s
per report and ~13 s per resample there).
One section alone: ``python benches/bench_eval.py --only report [--large-rows N]`` or
``--only overlap`` (replaced in place in the results file).
Writes benches/results/eval.md. Public API only (plus the bench's own baseline).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from typing import Callable, List

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benches.bench_eval_groups import bench_groups, bench_groups_issue, bench_report_vs_baseline  # noqa: E402
from benches.timing import interleaved, machine, med  # noqa: E402
import fastxai.eval as fe  # noqa: E402


def memory_bandwidth() -> float:
    """Bytes/s for a streaming read (sum over a 256 MiB float32 tensor, best of 5)."""
    x = torch.ones(64 * 1024 * 1024)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best


def heatmaps(n: int, size: int = 224, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, size, size, generator=g)
    x0 = torch.randint(0, size - 60, (n,), generator=g)
    y0 = torch.randint(0, size - 60, (n,), generator=g)
    boxes = torch.stack([x0, y0, x0 + 50, y0 + 40], 1).double()
    return a, fe.boxes_to_mask(boxes, (size, size))


@contextlib.contextmanager
def quantus_without_set_assert():
    """Quantus' metric math alone: patch out the O(N·HW) Python-set ``assert_attributions``."""
    import quantus.metrics.base as qb

    orig = qb.asserts.assert_attributions
    qb.asserts.assert_attributions = lambda **kw: None
    try:
        yield
    finally:
        qb.asserts.assert_attributions = orig


def quantus_call(metric_cls, a: torch.Tensor, s: torch.Tensor) -> Callable[[], object]:
    an = a[:, None].numpy()
    sn = s[:, None].numpy().astype(np.float32)
    x = np.zeros_like(an)
    y = np.zeros(a.shape[0], np.int64)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return metric_cls(disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=an, s_batch=sn)

    return run


def bench_localisation(args, rows: List[str]) -> None:
    import quantus

    bw = memory_bandwidth()
    a, s = heatmaps(args.maps)
    aq, sq = a[: args.quantus_maps], s[: args.quantus_maps]
    scale = args.maps / args.quantus_maps
    floor_bw = (a.numel() * 4 + s.numel()) / bw
    s_words = s.view(torch.uint8).reshape(-1)[: (s.numel() // 8) * 8].view(torch.int64)

    def read_same_bytes():  # the memory-read floor measured on the very bytes a metric reads
        return a.sum(), s_words.sum()

    floor_runs: List[float] = []
    cases = [
        ("pointing game", quantus.PointingGame, lambda: fe.pointing_game(a, masks=s)),
        ("relevance mass accuracy", quantus.RelevanceMassAccuracy, lambda: fe.relevance_mass_accuracy(a, masks=s)),
        ("attribution localisation", quantus.AttributionLocalisation, lambda: fe.attribution_localisation(a, masks=s)),
    ]
    if args.full:
        cases += [
            ("top-k intersection k=1000", quantus.TopKIntersection, lambda: fe.top_k_intersection(a, masks=s)),
            ("relevance rank accuracy", quantus.RelevanceRankAccuracy, lambda: fe.relevance_rank_accuracy(a, masks=s)),
            ("heat-map AUROC", quantus.AUC, lambda: fe.heatmap_auroc(a, masks=s)),
        ]
    for name, cls, ours in cases:
        # the floor runs in the same rounds as fastxai (after the anchor), so both see the same cache state
        t = interleaved({"quantus": quantus_call(cls, aq, sq), "fastxai": ours, "floor": read_same_bytes},
                        args.repeats)
        shipped = med(t["quantus"]) * scale
        with quantus_without_set_assert():
            t2 = interleaved({"math": quantus_call(cls, a, s), "fastxai": ours, "floor": read_same_bytes},
                             args.repeats)
        floor_runs.extend(t["floor"] + t2["floor"])
        floor = med(t["floor"] + t2["floor"])
        fx = min(med(t["fastxai"]), med(t2["fastxai"]))
        allfx = t["fastxai"] + t2["fastxai"]
        rows.append(
            f"| {name} | {args.maps}x224² | {shipped:.2f} s (run on {args.quantus_maps}, x{scale:g}) | "
            f"{med(t2['math']):.3f} s | {fx * 1e3:.2f} ms ({min(allfx) * 1e3:.2f}–{max(allfx) * 1e3:.2f}) | "
            f"{shipped / fx:.0f}x | {med(t2['math']) / fx:.1f}x | "
            f"{fx / floor:.1f}x ({floor * 1e3:.2f} ms) | {fx / floor_bw:.2f}x ({floor_bw * 1e3:.1f} ms) |"
        )
        print(rows[-1], flush=True)
    rows.append("")
    floor = med(floor_runs)
    rows.append(f"Floors: 'same bytes' = median time of a torch sum over the same float32 maps plus the bool "
                f"masks read as int64 words, timed in the same interleaved rounds right after fastxai (overall median {floor * 1e3:.2f} ms, {(a.numel() * 4 + s.numel()) / floor / 1e9:.1f} GB/s: "
                f"the data fits this machine's L3, so this is the stricter floor); 'bandwidth' = the same bytes / "
                f"streaming-read bandwidth of a 256 MiB sum ({bw / 1e9:.1f} GB/s). fastxai column: median "
                f"(min–max over all {2 * args.repeats} runs).")


def bench_stream(args, rows: List[str]) -> None:
    bw = memory_bandwidth()
    chunk = 250
    a, s = heatmaps(chunk, seed=1)
    pg, iou = fe.PointingGame(), fe.OverlapAtTopK((10.0,))

    def run():
        for _ in range(args.stream // chunk):
            pg.update(a, masks=s)
            iou.update(a, masks=s)

    g = torch.Generator().manual_seed(1)
    x0 = torch.randint(0, 224 - 60, (chunk,), generator=g)
    y0 = torch.randint(0, 224 - 60, (chunk,), generator=g)
    boxes = torch.stack([x0, y0, x0 + 50, y0 + 40], 1).double()
    pg_b, rma_b = fe.PointingGame(), fe.RelevanceMassAccuracy()

    def run_boxes():  # annotation as boxes: tested by coordinates in the kernel, no mask is built
        for _ in range(args.stream // chunk):
            pg_b.update(a, boxes)
            rma_b.update(a, boxes)

    t = interleaved({"stream": run, "boxes": run_boxes}, args.repeats)
    n = (args.stream // chunk) * chunk
    rate = n / med(t["stream"])
    floor_rate = bw / (2 * (224 * 224 * 4 + 224 * 224))  # two passes over maps + masks
    rows.append(f"| pointing game + IoU@top-10% streamed, chunks of {chunk} | {n} maps | {rate:,.0f} maps/s | "
                f"floor {floor_rate:,.0f} maps/s (2 reads) |")
    print(rows[-1], flush=True)
    rate_b = n / med(t["boxes"])
    floor_b = bw / (2 * 224 * 224 * 4)  # two metrics, each one read of the maps (boxes: no mask bytes)
    rows.append(f"| pointing game + relevance mass from boxes (no masks), chunks of {chunk} | {n} maps | "
                f"{rate_b:,.0f} maps/s | floor {floor_b:,.0f} maps/s (2 reads of the maps) |")
    print(rows[-1], flush=True)


OVERLAP_HEADING = "## IoU at many thresholds (`overlap_at_thresholds`: one pass per map vs a mask per threshold)"


def overlap_loop(a: torch.Tensor, s: torch.Tensor, thresholds) -> torch.Tensor:
    """The former ``overlap_at_thresholds`` (anchor), plain torch: float64 min-max copy, then per
    threshold an ``h > t`` mask, its intersection with the annotation and three counts."""
    n = a.shape[0]
    h, m = a.reshape(n, -1).to(torch.float64), s.reshape(n, -1)
    h = h - h.amin(1, keepdim=True)
    h = h / h.amax(1, keepdim=True)
    sm = m.sum(1).to(torch.float64)
    cols = []
    for t in thresholds:
        pred = h > t
        inter, sp = (pred & m).sum(1).to(torch.float64), pred.sum(1).to(torch.float64)
        iou = inter / (sp + sm - inter)
        cols.append(torch.where(sp + sm == 0, torch.full_like(iou, float("nan")), iou))
    return torch.stack(cols, 1)


def bench_overlap_thresholds(args, rows: List[str]) -> None:
    """``overlap_at_thresholds`` (fused op) vs the former Python loop, 224² maps, T = 10, interleaved."""
    n = getattr(args, "overlap_maps", 1000)
    a, s = heatmaps(n, seed=3)
    th = [i / 10 for i in range(10)]
    new = fe.overlap_at_thresholds(a, masks=s, thresholds=th)
    assert torch.equal(new.isnan(), overlap_loop(a, s, th).isnan())
    assert torch.equal(new.nan_to_num(), overlap_loop(a, s, th).nan_to_num())  # identical scores
    t = interleaved({"loop": lambda: overlap_loop(a, s, th),
                     "fastxai": lambda: fe.overlap_at_thresholds(a, masks=s, thresholds=th)}, args.repeats)
    rows.append(f"| IoU at T=10 thresholds, min-max, masks | {n}x224² | {med(t['loop']):.2f} s "
                f"({min(t['loop']):.2f}–{max(t['loop']):.2f}) | {med(t['fastxai']) * 1e3:.0f} ms "
                f"({min(t['fastxai']) * 1e3:.0f}–{max(t['fastxai']) * 1e3:.0f}) | {med(t['loop']) / med(t['fastxai']):.1f}x |")
    print(rows[-1], flush=True)


def overlap_rows(args) -> List[str]:
    rows = ["| workload | data | former loop | fastxai | ratio |", "|---|---|---:|---:|---:|"]
    bench_overlap_thresholds(args, rows)
    return [OVERLAP_HEADING, *rows, ""]


def replace_section(path: str, heading: str, section: List[str]) -> None:
    """Replace (or append) the ``heading`` section of the results file, leaving the rest as it is."""
    old = open(path).read().rstrip("\n").split("\n") if os.path.exists(path) else []
    if heading in old:
        i = old.index(heading)
        j = next((k for k in range(i + 1, len(old)) if old[k].startswith("## ")), len(old))
        old[i:j] = section
    else:
        old += [""] + section
    with open(path, "w") as f:
        f.write("\n".join(old).rstrip("\n") + "\n")
    print("\n".join(section))


def section_main(argv=None) -> None:
    """One section only, replaced in benches/results/eval.md: ``--only overlap`` (the IoU rows) or
    ``--only report`` (group_report vs the plain torch baseline and fairlearn, 1 and 2 threads)."""
    p = argparse.ArgumentParser()
    p.add_argument("--only", choices=["overlap", "report"], required=True)
    p.add_argument("--overlap-maps", type=int, default=1000)
    p.add_argument("--large-rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--report-repeats", type=int, default=5)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "eval.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    note = f"Machine: {machine().rsplit(',', 1)[0]}; load average before the run {os.getloadavg()[0]:.1f}."
    if args.only == "overlap":
        section = overlap_rows(args)
        section[1:1] = [note + f" Interleaved, median of {args.repeats} (min–max). Scores identical "
                        "(checked before timing).", ""]
        replace_section(args.out, OVERLAP_HEADING, section)
    else:
        section = bench_report_vs_baseline(args)
        section[2:2] = [note, ""]
        replace_section(args.out, section[0], section)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--maps", type=int, default=100)
    p.add_argument("--quantus-maps", type=int, default=20)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--boot-rows", type=int, default=50_000)
    p.add_argument("--boot", type=int, default=50)
    p.add_argument("--fl-boot", type=int, default=2)
    p.add_argument("--stream", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--full", action="store_true",
                   help="also top-k, rank accuracy and AUROC vs Quantus, and fairlearn vs fastxai at --large-rows "
                        "(report and bootstrap; ~10 min)")
    p.add_argument("--large-rows", type=int, default=1_000_000)
    p.add_argument("--large-boot", type=int, default=1000, help="fastxai resamples at --large-rows")
    p.add_argument("--fl-large-boot", type=int, default=10, help="fairlearn resamples at --large-rows (scaled)")
    p.add_argument("--boot-repeats", type=int, default=2, help="rounds for the bootstrap at --large-rows")
    p.add_argument("--report-repeats", type=int, default=5, help="rounds for group_report vs baseline vs fairlearn")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "eval.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    loc = ["| metric | data | Quantus 0.6 as shipped | Quantus math only | fastxai | vs shipped | vs math | "
           "vs floor (same bytes) | vs floor (bandwidth) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    bench_localisation(args, loc)
    stream = ["| workload | data | fastxai | memory-read floor |", "|---|---|---:|---:|"]
    bench_stream(args, stream)
    grp = ["| workload | data | fairlearn 0.15 | fastxai | ratio |", "|---|---|---:|---:|---:|"]
    notes: List[str] = []
    bench_groups(args, grp)
    if args.full:
        bench_groups_issue(args, grp, notes)
    report = bench_report_vs_baseline(args) if args.full else []
    ovl = overlap_rows(args)
    text = "\n".join([
        "# Evaluator bench (`python benches/bench_eval.py " + " ".join(argv or sys.argv[1:]) + "`)",
        "",
        f"Machine: {machine()}. Interleaved anchor/fastxai rounds, median of {args.repeats}.",
        f"Total bench wall time {time.perf_counter() - t0:.0f} s.",
        "",
        "## Localisation (heat maps 224x224, one box each, masks given)",
        *loc, "",
        "## Streaming throughput", *stream, "",
        "## Group metrics", *grp, "",
        *[n + "\n" for n in notes],
        *report,
        *ovl,
    ])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    if any(a.startswith("--only") for a in sys.argv[1:]):
        section_main(sys.argv[1:])
    else:
        main()
