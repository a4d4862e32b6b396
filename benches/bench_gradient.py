"""Gradient-family bench: fastxai vs Captum 0.9, interleaved A/B, median of >= 5 pairs.

    python benches/bench_gradient.py            # quick defaults (< 3 min on an idle 2-core box)
    python benches/bench_gradient.py --full     # the issue's sizes: conv batch 8, NT batch 8
    python benches/bench_gradient.py --memory   # + peak-RSS of IG on 224x224 (Captum vs max_memory)

Models: a ~1M-parameter ResNet-style conv net (3x64x64 images) and an MLP 40-256-256-2
(64 rows). Rows: IG n_steps=50 (default gausslegendre), NoiseTunnel(IG) nt_samples=10,
GradientShap n_samples=50, each with the forward+backward floor (the same rows pushed through
fwd+bwd w.r.t. the input at the best batch of 16/32/64; MLP: 64 to 3200). Also a gausslegendre-vs-riemann_trapezoid
convergence table. 1 torch thread. The table goes to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from typing import Callable, List, Tuple

import torch
from torch import nn

import captum.attr as ca
import fastxai.attr as fa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benches.models import SmallResNet, mlp  # noqa: E402
from benches.timing import timed, warm_until_settled  # noqa: E402



MS_REPS = 21  # pairs for the millisecond MLP row: its calls vary by ~10 % from one to the next


def ab(a: Callable[[], object], b: Callable[[], object], reps: int) -> Tuple[float, float]:
    """Interleaved A B A B ...; medians (after one warm-up each)."""
    a()
    b()
    warm_until_settled(b)  # fastxai's chunk search may span a few short calls
    ta: List[float] = []
    tb: List[float] = []
    for _ in range(reps):
        ta.append(timed(a))
        tb.append(timed(b))
    return statistics.median(ta), statistics.median(tb)


def floor(model: nn.Module, x: torch.Tensor, rows: int, target: int, reps: int,
          sizes: Tuple[int, ...] = (16, 32, 64)) -> float:
    """Best time to push ``rows`` rows through forward+backward w.r.t. the input, over the
    batch sizes ``sizes``."""
    best = float("inf")
    for bs in sizes:
        def run() -> None:
            done = 0
            while done < rows:
                r = min(bs, rows - done)
                xi = x.repeat((r + x.shape[0] - 1) // x.shape[0], *([1] * (x.dim() - 1)))[:r].requires_grad_()
                out = model(xi)[:, target].sum()
                torch.autograd.grad(out, xi)
                done += r
        run()
        best = min(best, statistics.median([timed(run) for _ in range(3)]))
    return best


_MEM_SNIPPET = """
import sys, torch
sys.path.insert(0, {repo_dir!r})
def hwm():  # VmHWM resets at exec (ru_maxrss would carry the parent's peak over)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
from benches.models import SmallResNet
torch.set_num_threads(1); torch.manual_seed(0)
m = SmallResNet().eval(); x = torch.randn(1, 3, 224, 224)
import captum.attr as ca
import fastxai.attr as fa
with torch.no_grad():
    m(x)
base = hwm()
if {who!r} == "captum":
    ca.IntegratedGradients(m).attribute(x, target=0, n_steps=20)
else:
    fa.IntegratedGradients(m).attribute(x, target=0, n_steps=20, max_memory={cap})
print((hwm() - base) / 1024)
"""


def peak_rss(who: str, cap: int) -> float:
    """Peak RSS growth (MiB) of one IG call in a fresh process."""
    code = _MEM_SNIPPET.format(repo_dir=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), who=who, cap=cap)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--conv-batch", type=int, default=2, help="images for the conv IG / GradientShap rows")
    p.add_argument("--nt-batch", type=int, default=1, help="images for the NoiseTunnel row")
    p.add_argument("--nt-steps", type=int, default=20, help="IG n_steps inside NoiseTunnel")
    p.add_argument("--full", action="store_true", help="issue sizes: conv batch 8, NT batch 8 x n_steps 50")
    p.add_argument("--memory", action="store_true", help="also measure peak RSS at 224x224")
    p.add_argument("--rows", default="ig,ig_mlp,nt,gs", help="comma list of ig, ig_mlp, nt, gs")
    p.add_argument("--out", default="benches/results/gradient.md")
    args = p.parse_args()
    if args.full:
        args.conv_batch, args.nt_batch, args.nt_steps = 8, 8, 50
    torch.set_num_threads(1)
    torch.manual_seed(0)
    conv = SmallResNet().eval()
    x = torch.randn(args.conv_batch, 3, 64, 64)
    cb = args.conv_batch
    tab = mlp().eval()
    xt = torch.randn(64, 40)
    params = sum(p.numel() for p in conv.parameters())
    rows = []

    def row(name: str, captum_fn, ours_fn, n_rows: int, model, xin, reps: int,
            sizes: Tuple[int, ...] = (16, 32, 64)) -> None:
        tc, tf = ab(captum_fn, ours_fn, reps)
        fl = floor(model, xin, n_rows, 0, reps, sizes)
        rows.append((name, tc, tf, fl))
        print(f"{name}: captum {tc:.3f}s fastxai {tf:.3f}s floor {fl:.3f}s", flush=True)

    want = set(args.rows.split(","))
    ig_c, ig_f = ca.IntegratedGradients(conv), fa.IntegratedGradients(conv)
    if "ig" in want:
        row(f"IG n_steps=50, conv {cb}x3x64x64", lambda: ig_c.attribute(x, target=0, n_steps=50),
            lambda: ig_f.attribute(x, target=0, n_steps=50), 50 * cb, conv, x, args.reps)
    igt_c, igt_f = ca.IntegratedGradients(tab), fa.IntegratedGradients(tab)
    if "ig_mlp" in want:
        # the MLP's fastest batch is far above the conv net's: search up to one batch of all rows
        row("IG n_steps=50, MLP 64x40", lambda: igt_c.attribute(xt, target=0, n_steps=50),
            lambda: igt_f.attribute(xt, target=0, n_steps=50), 3200, tab, xt, max(args.reps, MS_REPS),
            (64, 128, 256, 512, 1024, 3200))
    xn = x[: args.nt_batch]
    nt_c, nt_f = ca.NoiseTunnel(ig_c), fa.NoiseTunnel(ig_f)
    ns = args.nt_steps
    if "nt" in want:
        row(f"NoiseTunnel(IG) nt=10 n_steps={ns}, conv {args.nt_batch}x3x64x64",
            lambda: nt_c.attribute(xn, nt_samples=10, stdevs=0.1, target=0, n_steps=ns),
            lambda: nt_f.attribute(xn, nt_samples=10, stdevs=0.1, target=0, n_steps=ns),
            10 * ns * args.nt_batch, conv, xn, args.reps)
    gs_c, gs_f = ca.GradientShap(conv), fa.GradientShap(conv)
    bl = torch.randn(10, 3, 64, 64) * 0.1
    if "gs" in want:
        row(f"GradientShap n_samples=50, conv {cb}x3x64x64",
            lambda: gs_c.attribute(x, bl, n_samples=50, target=0),
            lambda: gs_f.attribute(x, bl, n_samples=50, target=0), 50 * cb, conv, x, args.reps)

    # convergence: max |delta| vs n_steps (float64 MLP)
    tab64 = mlp().double().eval()
    xd = torch.randn(64, 40, dtype=torch.float64)
    igd = fa.IntegratedGradients(tab64)
    conv_rows = []
    for n in (2, 4, 8, 16, 32, 64):
        d = [float(igd.attribute(xd, target=0, n_steps=n, method=m, return_convergence_delta=True)[1].abs().max())
             for m in ("gausslegendre", "riemann_trapezoid")]
        conv_rows.append((n, d[0], d[1]))

    machine = f"{platform.machine()} {platform.processor() or ''} / {platform.node()}, torch {torch.__version__}, 1 thread"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
        machine = f"{cpu}, " + machine
    except Exception:
        pass
    lines = [
        "# Gradient family: fastxai vs Captum 0.9", "",
        f"Machine: {machine}. Conv net: SmallResNet ({params/1e6:.2f} M params), eval. "
        f"Interleaved A/B, median of {args.reps} pairs (the millisecond MLP row: {max(args.reps, MS_REPS)}) after a warm-up; floor = the same rows through "
        "forward+backward (w.r.t. the input) at the best of batch 16/32/64 (MLP: 64 ... 3200). Both at their defaults "
        "(Captum: internal_batch_size=None; fastxai: calibrated chunks).", "",
        "| method | Captum s | fastxai s | floor s | Captum/floor | fastxai/floor | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, tc, tf, fl in rows:
        d = 4 if fl < 0.1 else 3  # millisecond rows: one more digit
        lines.append(f"| {name} | {tc:.{d}f} | {tf:.{d}f} | {fl:.{d}f} | {tc/fl:.2f} | {tf/fl:.2f} | {tc/tf:.2f}x |")
    lines += ["", "## IG convergence: max |delta| over 64 rows (float64 MLP 40-256-256-2)", "",
              "| n_steps | gausslegendre | riemann_trapezoid |", "|---:|---:|---:|"]
    for n, g, t in conv_rows:
        lines.append(f"| {n} | {g:.2e} | {t:.2e} |")
    lines.append("")
    if args.memory:
        cap = 300 * 2**20
        peaks = {name: peak_rss(name, cap) for name in ("captum", "fastxai")}
        lines += ["## Peak memory, IG n_steps=20 on 1 x 3x224x224 (growth of VmHWM during the call, fresh process)", "",
                  f"| run | peak MiB |", "|---|---:|",
                  f"| Captum, internal_batch_size=None | {peaks['captum']:.0f} |",
                  f"| fastxai, max_memory={cap // 2**20} MiB | {peaks['fastxai']:.0f} |", ""]
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
