"""How cost grows with the dataset: ``fastxai bench`` on 100 -> 10,000 images, beside the floor.

    python benches/bench_scaling_dataset.py                  # -> benches/results/scaling_dataset.md
    python benches/bench_scaling_dataset.py --quick          # 20 and 60 images: checks it runs
    python benches/bench_scaling_dataset.py --src CHECKOUT   # the fastxai of another checkout

The data are ``fastxai.demo.synthetic`` X-rays (64x64, 1 channel; written once for the largest
size, every image in the evaluated split). The model is ``fastxai.models.SmallCNN`` with fixed
random weights (seed 0) saved as a state dict, so no training enters the timings: this bench is
about cost, not about what the maps say. Each size is one ``python -m fastxai bench CONFIG
--quiet`` process (1 torch thread, ``run.max_samples`` = the size, a fresh run folder), with
Saliency, IntegratedGradients (n_steps=16) and Occlusion (8x8 windows, stride 8) and two
metrics (pointing game, deletion AUC); the trivial baselines ``fastxai bench`` always adds run
too. The runs share an on-disk chunk-size cache in the scratch folder (the first size searches).

Per size the table gives the process's wall time (start-up, data scan, predict, explain,
evaluate, aggregate) and, from the run's own timing table (``run.timings()``, summed over
methods and the baselines), the seconds of the predict stage, of the attribution calls
(explain), their floor (``floor_seconds``: the rows each method pushed through the model times
the forward / forward+backward seconds per row the predict stage measured) and of the metric
calls (evaluate; no floor is defined for them). ``ms / image`` = wall / images is what a user
multiplies by.
Needs ``fastxai.bench`` (``pip install fastxai[bench]``); says so and exits 2 without it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SIDE = 64
CONFIG = """
[run]
out = "{out}"
cache_dir = "{cache}"
batch_size = 32
max_samples = {n}
torch_threads = 1
report = false
[dataset]
root = "{root}"
labels = ["lesion"]
group_columns = ["sex", "site"]
[dataset.preprocess]
size = {side}
mean = [0.5]
std = [0.25]
[split]
fractions = {{ test = 1.0 }}
[[models]]
name = "cnn"
factory = "fastxai.models:SmallCNN"
params = {{ in_channels = 1, num_classes = 1 }}
weights = "{weights}"
[[methods]]
name = "Saliency"
[[methods]]
name = "IntegratedGradients"
params = {{ n_steps = 16 }}
[[methods]]
name = "Occlusion"
params = {{ sliding_window_shapes = [1, 8, 8], strides = [1, 8, 8] }}
[explain]
targets = "all"
[metrics]
names = ["pointing_game", "deletion_auc"]
[groups]
n_boot = 200
"""


def _env(src: Path, work: Optional[Path] = None) -> Dict[str, str]:
    """The CLI processes' environment; with ``work``, their on-disk chunk-size cache lives in this
    run's scratch folder (the first size searches, later sizes start settled, as a user's later
    runs would; nothing from an earlier invocation of the bench is read)."""
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if work is not None:
        env.update(FASTXAI_CALIBRATION_CACHE="1", FASTXAI_CACHE_DIR=str(work / "calibration"))
    return env


def _probe(src: Path) -> bool:
    """Whether the checkout at ``src`` has ``fastxai bench`` (run in a subprocess: its fastxai)."""
    code = "import fastxai.bench, fastxai.demo.synthetic"
    proc = subprocess.run([sys.executable, "-c", code], env=_env(src), cwd=tempfile.gettempdir(),
                          capture_output=True, text=True)
    return proc.returncode == 0


_PREPARE = r"""
import sys, torch
from fastxai.demo.synthetic import write_synthetic
from fastxai.models import SmallCNN
root, weights, n, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
write_synthetic(root, n_images=n, size=side, seed=0)
torch.manual_seed(0)
torch.save(SmallCNN(in_channels=1, num_classes=1).state_dict(), weights)
"""

_READ = r"""
import json, sys
from fastxai.bench import open_run
t = open_run(sys.argv[1]).timings()
def total(stage, col):
    return float(t.loc[t["stage"] == stage, col].astype(float).fillna(0).sum())
print(json.dumps({"explain": total("explain", "seconds"), "floor": total("explain", "floor_seconds"),
                  "evaluate": total("evaluate", "seconds"), "predict": total("predict", "seconds")}))
"""


def run_size(src: Path, work: Path, root: Path, weights: Path, n: int) -> Dict[str, float]:
    """One ``fastxai bench`` process on ``n`` images; wall, explain+evaluate seconds, floor."""
    import json

    out, cfg = work / f"run{n}", work / f"c{n}.toml"
    shutil.rmtree(out, ignore_errors=True)
    cfg.write_text(CONFIG.format(out=out, cache=work / "cache", n=n, root=root, side=SIDE, weights=weights))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastxai", "bench", str(cfg), "--quiet"], env=_env(src, work),
                   cwd=work, check=True)
    wall = time.perf_counter() - t
    got = subprocess.run([sys.executable, "-c", _READ, str(out)], env=_env(src), cwd=work, check=True,
                         capture_output=True, text=True)
    res = json.loads(got.stdout.strip().splitlines()[-1])
    res.update(n=n, wall=wall)
    return res


def table(rows: List[Dict[str, float]]) -> List[str]:
    lines = ["| images | wall s | predict s | explain s | explain floor s | explain ÷ floor | evaluate s "
             "| ms / image (wall) |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["explain"] / r["floor"] if r["floor"] > 0 else float("nan")
        lines.append(f"| {r['n']:,} | {r['wall']:.1f} | {r['predict']:.1f} | {r['explain']:.1f} | {r['floor']:.1f} "
                     f"| {ratio:.2f} | {r['evaluate']:.1f} | {1e3 * r['wall'] / r['n']:.1f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000", help="images per run, comma-separated")
    ap.add_argument("--quick", action="store_true", help="sizes 20,60: checks that it runs")
    ap.add_argument("--src", default=str(REPO), help="checkout whose fastxai runs (default: this one)")
    ap.add_argument("--work", default="", help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--out", default=str(REPO / "benches" / "results" / "scaling_dataset.md"))
    args = ap.parse_args()
    src = Path(args.src).resolve()
    if not _probe(src):
        print(f"fastxai bench is not available in {src} (needs fastxai.bench and its extra: "
              "pip install -e .[bench]); nothing measured", file=sys.stderr)
        return 2
    sizes = [20, 60] if args.quick else [int(s) for s in args.sizes.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="fastxai-scaling-dataset-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        root, weights = work / "data", work / "weights.pt"
        subprocess.run([sys.executable, "-c", _PREPARE, str(root), str(weights), str(max(sizes)), str(SIDE)],
                       env=_env(src), cwd=work, check=True)
        rows = []
        for n in sizes:
            rows.append(run_size(src, work, root, weights, n))
            print(table(rows)[-1], flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join([
        f"### fastxai bench vs dataset size ({SIDE}x{SIDE}, SmallCNN, 3 methods + 2 metrics, 1 thread)", "",
        f"fastxai from `{src}`; {os.cpu_count()} cores, load average {load:.1f} when it ended"
        + (" (--quick: the numbers mean little)" if args.quick else ""), "", *table(rows), ""])
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
