"""``fastxai bench`` at scale: throughput, wall time vs the method + metric calls, the store's share,
resume time after a kill. Writes ``benches/results/bench.md``.

    python benches/bench_bench.py            # the shared NIH subset (../shared/data/nih_cxr14_bbox beside the
                                             # checkout, or $FASTXAI_DATA/nih_cxr14_bbox), 1 and 2 ranks
    python benches/bench_bench.py --small    # a quick check on synthetic data (the numbers mean little)

Per method (from the run folder, through ``open_run``): throughput = explained units / the
(explain + evaluate) cell's wall time; overhead ratio = that wall time / (the method calls +
the metric calls on the same batches, each timed inside the same run). The store's share =
time in SQLite and Parquet writes and compaction (``run.json`` ``store_io_seconds``) / the
cells' wall time. Resume: a run killed with SIGKILL mid-stage is restarted; time from restart to
its first new part file, and the wall time of re-running a finished run (nothing to do).
Final numbers must be taken on a quiet machine (1 torch thread per rank).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NIH = Path(os.environ["FASTXAI_DATA"]) / "nih_cxr14_bbox" if os.environ.get("FASTXAI_DATA") else (
    REPO.parent / "shared" / "data" / "nih_cxr14_bbox")
METHODS = """
[[methods]]
name = "Saliency"
[[methods]]
name = "IntegratedGradients"
params = {{ n_steps = 16 }}
[[methods]]
name = "LayerGradCam"
layer = "{layer}"
[[methods]]
name = "Occlusion"
params = {{ sliding_window_shapes = [1, {win}, {win}], strides = [1, {stride}, {stride}] }}
[[methods]]
name = "RISE"
params = {{ n_masks = 500, grid_size = 8 }}
[[methods]]
name = "KernelShap"
feature_mask = "grid:8"
params = {{ n_samples = 128 }}
"""


def write_config(path: Path, root: Path, out: Path, cache: Path, size: int, n: int, small: bool) -> Path:
    labels = '["lesion"]' if small else ('["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", '
                                         '"Nodule", "Pneumonia", "Pneumothorax"]')
    groups = '["sex", "site"]' if small else '["sex", "age_group", "view_position"]'
    arch = 'arch = "small_cnn"\nparams = { width = 8 }' if small else 'arch = "resnet_small"'
    path.write_text(f"""
[run]
out = "{out}"
cache_dir = "{cache}"
batch_size = 16
max_samples = {n}
torch_threads = 1
report = false
[dataset]
root = "{root}"
labels = {labels}
group_columns = {groups}
[dataset.preprocess]
size = {size}
mean = [0.5]
std = [0.25]
[split]
fractions = {{ train = 0.6, val = 0.15, test = 0.25 }}
[[models]]
name = "model"
{arch}
train = {{ epochs = {2 if small else 4}, batch_size = 32 }}
{METHODS.format(layer="features.6" if small else "layers.3", win=size // 8, stride=size // 16)}
[explain]
targets = "{'all' if small else 'annotated'}"
[metrics]
names = ["pointing_game", "hit_rate", "energy_pointing_game", "iou_otsu", "border_mass", "deletion_auc", "insertion_auc"]
[groups]
n_boot = 1000
""")
    return path


def env(threads: int = 1) -> dict:
    e = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO))
    return e


def run_cli(cfg: Path, ranks: int) -> float:
    cmd = ([sys.executable, "-m", "fastxai", "bench", str(cfg), "--quiet"] if ranks == 1 else
           [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", "-m",
            "fastxai", "bench", str(cfg), "--quiet"])
    t = time.perf_counter()
    subprocess.run(cmd, env=env(), check=True)
    return time.perf_counter() - t


def per_method(run_dir: Path) -> list:
    from fastxai.bench import open_run

    run = open_run(str(run_dir))
    cells = run.cells()
    rows = []
    for r in cells[cells["stage"] == "evaluate"].itertuples():
        e = cells[(cells["stage"] == "explain") & (cells["method"] == r.method) & (cells["model"] == r.model)].iloc[0]
        calls = e["summary"].get("seconds", 0.0) + r.summary.get("metric_seconds", 0.0)
        rows.append({"method": r.method, "units": r.n_samples, "wall_s": r.seconds, "calls_s": calls,
                     "units_per_s": r.n_samples / r.seconds, "ratio": r.seconds / calls if calls else float("nan")})
    prov = run.provenance
    cell_wall = float(cells.loc[cells["stage"].isin(["predict", "explain", "evaluate"]), "seconds"].fillna(0).sum())
    return rows, prov.get("store_io_seconds", float("nan")) / max(cell_wall, 1e-9)


def resume_after_kill(cfg: Path, out: Path) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "fastxai", "bench", str(cfg), "--quiet"], env=env())
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        n = len(list((out / "parts").glob("*/*.parquet"))) if (out / "parts").exists() else 0
        if n >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    def outputs() -> set:  # part files and compacted results (a small cell can finish between two polls)
        return {str(p) for p in (out / "parts").glob("*/*.parquet")} | {str(p) for p in (out / "results").glob("*")}

    before = outputs()
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "fastxai", "bench", str(cfg), "--quiet"], env=env())
    first = None
    while proc.poll() is None:
        if first is None and outputs() - before:
            first = time.perf_counter() - t
        time.sleep(0.02)
    total = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastxai", "bench", str(cfg), "--quiet"], env=env(), check=True)
    return {"restart_to_first_new_batch_s": first, "resumed_run_s": total, "rerun_finished_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="synthetic data, a quick check")
    ap.add_argument("--samples", type=int, default=0, help="limit the evaluated images (0: all)")
    ap.add_argument("--work", default="/tmp/fastxai_bench_bench")
    ap.add_argument("--data", default=str(NIH), help="the NIH subset's folder (default: %(default)s)")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if args.small:
        from fastxai.demo.synthetic import write_synthetic

        root, size, n = work / "syn", 32, args.samples or 16
        write_synthetic(root, n_images=80, size=size, seed=0)
    else:
        root = Path(args.data)
        if not (root / "annotations.csv").exists():
            sys.exit(f"{root / 'annotations.csv'} not found (--data or $FASTXAI_DATA)")
        size, n = 128, args.samples
    cache = work / "cache"
    lines = [f"# fastxai bench at scale ({'synthetic, --small' if args.small else 'NIH ChestX-ray14 subset'})", "",
             f"machine: {os.cpu_count()} cores; 1 torch thread per rank; numbers are from a "
             f"{'quick check' if args.small else 'single run'} — take final numbers on a quiet machine.", ""]
    for ranks in (1, 2):
        out = work / f"run{ranks}"
        cfg = write_config(work / f"c{ranks}.toml", root, out, cache, size, n, args.small)
        if ranks == 1:
            subprocess.run([sys.executable, "-m", "fastxai", "bench", "train", str(cfg), "--quiet"], env=env(),
                           check=True)
        wall = run_cli(cfg, ranks)
        rows, store_share = per_method(out)
        lines += [f"## {ranks} rank(s): wall {wall:.1f} s (incl. start-up), store share {100 * store_share:.2f} %", "",
                  "| method | units | wall s | method+metric calls s | units/s | wall / calls |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['method']} | {r['units']} | {r['wall_s']:.2f} | {r['calls_s']:.2f} | {r['units_per_s']:.2f} | "
                  f"{r['ratio']:.3f} |" for r in rows]
        tw, tc = sum(r["wall_s"] for r in rows), sum(r["calls_s"] for r in rows)
        lines += ["", f"all methods: wall / calls = {tw / tc:.3f} (target <= 1.10)" if ranks == 1 else
                  f"all methods: wall / calls = {tw / tc:.3f} (calls summed over both ranks: perfect scaling "
                  "with no overhead gives 0.5)", ""]
    out = work / "kill"
    cfg = write_config(work / "ck.toml", root, out, cache, size, n, args.small)
    res = resume_after_kill(cfg, out)
    lines += ["## resume after kill -9", "", *(f"- {k}: {v:.2f} s" for k, v in res.items() if v is not None), ""]
    text = "\n".join(lines)
    print(text)
    dest = REPO / "benches" / "results" / ("bench_small.md" if args.small else "bench.md")
    dest.write_text(text + "\n")
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
