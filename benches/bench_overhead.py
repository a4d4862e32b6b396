"""Fixed per-call cost vs Captum, and the cost of a process's first call (issue 16).

    python benches/bench_overhead.py                  # both parts -> benches/results/overhead.md
    python benches/bench_overhead.py --parts calls    # steady-state small calls, interleaved with Captum
    python benches/bench_overhead.py --parts fresh    # first vs next call in fresh processes
    python benches/bench_overhead.py --quick          # tiny sizes: checks the script runs
    python benches/bench_overhead.py --parts fresh --src /path/to/other/checkout   # "before"

**calls**: Saliency, IntegratedGradients (n_steps=50), GradientShap (n_samples=5), NoiseTunnel
(Saliency, nt_samples=5), Occlusion (16x16 windows, stride 16: 64 windows) and FeatureAblation
(64 square superpixels) on 8 images of 1x128x128, each through a small CNN
(``fastxai.models.SmallCNN``, 1 channel) and through a *near-free* model (mean over the image
then a 1->2 linear layer), so that what is left is the libraries' own per-call work, and that
model once more on 16x16 images: the *fixed* per-call cost (no work that grows with the image).
Captum and
fastxai alternate call by call (A B A B ...), median of ``--reps``; fastxai runs until its
chunk-size search is settled first. 1 torch thread.

**fresh**: each row is a new Python process that imports the library, builds the model and
times its first and second call, and the growth of its peak RSS (``VmHWM``) during the first
call, with fastxai's on-disk chunk-size cache off (every process searches), cold (empty folder:
this process searches and writes) and warm (the folder the cold run filled). It also says
whether the first call imported sympy (torch imports it for an explicit ``grad_outputs`` or
``torch.broadcast_shapes``: 0.5-3 s once per process).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _models(side: int):
    import torch

    from fastxai.models import SmallCNN

    class NearFree(torch.nn.Module):
        """(N, C, H, W) -> (N, 2): a mean and a 1->2 linear layer (differentiable, ~free)."""

        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.mean((1, 2, 3))[:, None])

    torch.manual_seed(0)
    return {"small CNN": SmallCNN(in_channels=1, num_classes=2).eval(), "near-free": NearFree().eval()}


def _cases(lib, model, x, side: int) -> Dict[str, Callable[[], object]]:
    """The six methods at Captum's defaults (windows / superpixels of side // 8)."""
    import torch

    w = max(1, side // 8)
    g = side // w
    mask = torch.arange(g * g).reshape(g, g).repeat_interleave(w, 0).repeat_interleave(w, 1)[None, None]
    bl = torch.zeros(2, *x.shape[1:])
    sal, ig, gs = lib.Saliency(model), lib.IntegratedGradients(model), lib.GradientShap(model)
    nt, occ, fa = lib.NoiseTunnel(lib.Saliency(model)), lib.Occlusion(model), lib.FeatureAblation(model)
    return {
        "Saliency": lambda: sal.attribute(x, target=0),
        "IntegratedGradients n_steps=50": lambda: ig.attribute(x, target=0, n_steps=50),
        "GradientShap n_samples=5": lambda: gs.attribute(x, bl, target=0, n_samples=5),
        "NoiseTunnel(Saliency) nt_samples=5": lambda: nt.attribute(x, target=0, nt_samples=5),
        f"Occlusion {w}x{w} stride {w} ({g * g} windows)": lambda: occ.attribute(x, (1, w, w), (1, w, w), target=0),
        f"FeatureAblation {g * g} superpixels": lambda: fa.attribute(x, target=0, feature_mask=mask),
    }


def part_calls(reps: int, side: int, n: int) -> List[str]:
    import warnings

    import torch

    import captum.attr as ca
    import fastxai.attr as fx
    from benches.timing import med, timed, warm_until_settled

    warnings.filterwarnings("ignore", message="Input Tensor")  # Captum's requires_grad notice
    torch.set_num_threads(1)
    tiny = 16
    lines = [f"### Small calls: {n} images, median of {reps} interleaved pairs", "",
             "| model, input | method | Captum ms | fastxai ms | fastxai ÷ Captum | fastxai − Captum ms |",
             "|---|---|---:|---:|---:|---:|"]
    models = _models(side)
    # the near-free model on tiny images is the fixed per-call cost: what each library does per
    # call beside the model and beside work that grows with the data (noise draws, copies)
    runs = [(f"{k}, 1x{side}x{side}", m, side) for k, m in models.items()]
    runs.append((f"near-free, 1x{tiny}x{tiny} (fixed cost)", models["near-free"], tiny))
    for mname, model, sd in runs:
        x = torch.randn(n, 1, sd, sd)
        ours, theirs = _cases(fx, model, x, sd), _cases(ca, model, x, sd)
        for name in ours:
            a, b = theirs[name], ours[name]
            a(), b()
            warm_until_settled(b)
            ta, tb = [], []
            for _ in range(reps):
                ta.append(timed(a))
                tb.append(timed(b))
            c, f = med(ta) * 1e3, med(tb) * 1e3
            lines.append(f"| {mname} | {name} | {c:.2f} | {f:.2f} | {f / c:.2f} | {f - c:+.2f} |")
            print(lines[-1], flush=True)
    return lines


_FRESH = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
who, method, n, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lib = __import__("captum.attr" if who == "captum" else "fastxai.attr", fromlist=["x"])
t_import = time.perf_counter() - t0
from fastxai.models import SmallCNN
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) * 1024
torch.manual_seed(0)
net = SmallCNN(in_channels=1, num_classes=2).eval()
x = torch.randn(n, 1, side, side)
with torch.no_grad():
    net(x)
w = max(1, side // 8)
calls = {
    "Saliency": lambda: lib.Saliency(net).attribute(x, target=0),
    "IntegratedGradients": lambda: lib.IntegratedGradients(net).attribute(x, target=0, n_steps=50),
    "Occlusion": lambda: lib.Occlusion(net).attribute(x, (1, w, w), (1, w, w), target=0),
    "FeatureAblation": lambda: lib.FeatureAblation(net).attribute(
        x, target=0, feature_mask=torch.arange(64).reshape(8, 8).repeat_interleave(w, 0).repeat_interleave(w, 1)[None, None]),
}
base = hwm()
t = time.perf_counter(); calls[method](); first = time.perf_counter() - t
peak = hwm() - base
sympy = "sympy" in sys.modules
t = time.perf_counter(); calls[method](); second = time.perf_counter() - t
import fastxai
print(json.dumps(dict(src=fastxai.__file__, import_s=t_import, first_s=first, second_s=second, peak_mb=peak / 2**20, sympy=sympy)))
"""


def _fresh_run(who: str, method: str, n: int, side: int, env: Dict[str, str]) -> Dict[str, float]:
    # cwd: a neutral folder, so that "-c" (which puts the cwd first on sys.path) does not import
    # the fastxai of the current folder instead of the one PYTHONPATH names
    out = subprocess.run([sys.executable, "-c", _FRESH, who, method, str(n), str(side)], env=env,
                         capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"fresh run {who} {method} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_fresh(reps: int, rows: List[Tuple[str, int, int]], src: str) -> List[str]:
    lines = ["### First call in a fresh process (1 torch thread; peak = growth of VmHWM during the first call)", "",
             "| method, images | run | cache | import s | first call s | second call s | first ÷ second | peak MiB | sympy |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    base_env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, REPO) if p))
    srcs = set()
    for method, n, side in rows:
        with tempfile.TemporaryDirectory() as cache:
            runs = [("captum", "—", {})] + [
                ("fastxai", "off", {"FASTXAI_CALIBRATION_CACHE": "0"}),
                ("fastxai", "cold", {"FASTXAI_CALIBRATION_CACHE": "1", "FASTXAI_CACHE_DIR": cache}),
                ("fastxai", "warm", {"FASTXAI_CALIBRATION_CACHE": "1", "FASTXAI_CACHE_DIR": cache}),
            ]
            for who, label, extra in runs:
                got: List[Dict[str, float]] = []
                for _ in range(reps if label != "cold" else 1):  # "cold" fills the folder once
                    got.append(_fresh_run(who, method, n, side, dict(base_env, **extra)))
                r = sorted(got, key=lambda d: d["first_s"])[len(got) // 2]
                lines.append(
                    f"| {method}, {n}x1x{side}x{side} | {who} | {label} | {r['import_s']:.2f} | {r['first_s']:.3f} | "
                    f"{r['second_s']:.3f} | {r['first_s'] / r['second_s']:.2f} | {r['peak_mb']:.0f} | "
                    f"{'yes' if r['sympy'] else 'no'} |")
                print(lines[-1], flush=True)
                srcs.add(os.path.dirname(os.path.dirname(r["src"])))
    return lines + ["", "fastxai imported from: " + ", ".join(sorted(srcs))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="calls,fresh")
    ap.add_argument("--reps", type=int, default=15, help="interleaved pairs per small-call row")
    ap.add_argument("--fresh-reps", type=int, default=3, help="fresh processes per row (median)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 3 pairs: checks that it runs")
    ap.add_argument("--src", default="", help="run the fresh processes against this checkout")
    ap.add_argument("--fresh-methods", default="", help="comma list: only these fresh-process rows")
    ap.add_argument("--out", default=os.path.join(REPO, "benches", "results", "overhead.md"))
    args = ap.parse_args()
    from benches.timing import machine

    side, n = (32, 2) if args.quick else (128, 8)
    reps = 3 if args.quick else args.reps
    fresh_rows = ([("Saliency", 2, 32), ("IntegratedGradients", 2, 32)] if args.quick else
                  [("Saliency", 8, 128), ("IntegratedGradients", 40, 128), ("Occlusion", 8, 128),
                   ("FeatureAblation", 8, 128)])
    if args.fresh_methods:
        fresh_rows = [r for r in fresh_rows if r[0] in args.fresh_methods.split(",")]
    import torch

    torch.set_num_threads(1)  # both parts run at 1 thread (the header says so)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"Machine: {machine()}; load average {load:.1f} at the start; {time.strftime('%Y-%m-%d %H:%M')}", ""]
    if "calls" in args.parts:
        lines += part_calls(reps, side, n) + [""]
    if "fresh" in args.parts:
        lines += part_fresh(1 if args.quick else args.fresh_reps, fresh_rows, args.src) + [""]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
