"""Incremental Occlusion (issue 15) vs the full-forward floor, fastxai's full path and Captum.

1 torch thread; runners interleaved round by round (A B C D A B C D ...), median of the
rounds with spread. The floor = the same rows (one per window and example) pushed through the
model at its fastest batch size, nothing else: the best any full-forward implementation can
do. Beside each measured speed-up: the FLOP ceiling (full FLOPs / FLOPs of the exact changed
regions) and the FLOP ratio the plan itself computes.

    python benches/bench_incremental.py                       # main table: ResNet-18, VGG-11, DenseNet-121 at 224
    python benches/bench_incremental.py --only resnet18 --sweep --approx
    python benches/bench_incremental.py --size 112 --repeats 1    # a quick look
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benches.bench_perturbation import best_floor_batch, floor_runner  # noqa: E402
from benches.timing import interleaved, machine, med, summary, timed, warm_until_settled  # noqa: E402
from fastxai.models import DenseNet, resnet18, vgg11  # noqa: E402

MODELS: Dict[str, Callable[[], nn.Module]] = {
    "resnet18": lambda: resnet18(3, 2),
    "vgg11": lambda: vgg11(3, 2),
    "densenet121": lambda: DenseNet(3, 2, 32, (6, 12, 24, 16)),
}


def _randomise(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _windows(size: int, w: int, s: int, n: int) -> int:
    import math

    return (math.ceil((size - w) / s) + 1) ** 2 * n


def main_table(names: List[str], size: int, n: int, repeats: int, captum: bool, full: bool = True) -> List[str]:
    import captum.attr as ca

    from fastxai.attr import Occlusion

    lines = ["| model, window 16 stride 8 | runner | median (spread) | ÷ floor | speed-up vs floor | FLOP ceiling | planned (FLOPs) | share of ceiling |",
             "|---|---|---|---|---|---|---|---|"]
    for name in names:
        net = _randomise(MODELS[name]())
        x = torch.randn(n, 3, size, size)
        target = net(x).argmax(1)
        kw = dict(sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), target=target)
        occ = Occlusion(net)
        inc = lambda: occ.attribute(x, **kw, incremental=True)  # noqa: E731  (the path under test, even below auto's threshold)
        first = timed(inc)
        plan = occ.last_plan
        settle = 1 + warm_until_settled(inc)
        rows = _windows(size, 16, 8, n)
        batch = best_floor_batch(net, x)
        fns: Dict[str, Callable[[], object]] = {
            "floor": floor_runner(net, x, rows, batch),
            "fastxai incremental": inc,
        }
        if full:
            fns["fastxai full path"] = lambda: Occlusion(net).attribute(x, **kw, incremental=False)
        if captum:
            fns["captum ppe=32"] = lambda: ca.Occlusion(net).attribute(x, **kw, perturbations_per_eval=32)
        times = interleaved(fns, repeats)
        floor = med(times["floor"])
        title = f"**{name}** {n}x3x{size}x{size}, {rows} rows"
        lines.append(f"| {title} | floor (batch {batch}) | {summary(times['floor'])} | 1.00x | | | | |")
        for runner, ts in times.items():
            if runner == "floor":
                continue
            speed = floor / med(ts)
            extra = ""
            if runner == "fastxai incremental":
                extra = f" {plan.flop_ceiling:.2f}x | {plan.planned_speedup:.2f}x | {speed / plan.flop_ceiling:.0%} |"
            else:
                extra = " | | |"
            lines.append(f"| | {runner} | {summary(ts)} | {med(ts) / floor:.2f}x | {speed:.2f}x |{extra}")
        lines.append(f"| | plan: {plan.reason} (first call {first:.1f} s incl. tracing and chunk search; settled after {settle}) | | | | | | |")
    return lines


def sweep_table(name: str, size: int, n: int, repeats: int, combos: List[Tuple[int, int]]) -> List[str]:
    from fastxai.attr import Occlusion

    lines = [f"| {name} {n}x3x{size}x{size}: window / stride | windows | floor | incremental | speed-up | FLOP ceiling | planned | share of ceiling |",
             "|---|---|---|---|---|---|---|---|"]
    net = _randomise(MODELS[name]())
    x = torch.randn(n, 3, size, size)
    target = net(x).argmax(1)
    batch = best_floor_batch(net, x)
    for w, s in combos:
        kw = dict(sliding_window_shapes=(3, w, w), strides=(3, s, s), target=target)
        occ = Occlusion(net)
        inc = lambda: occ.attribute(x, **kw, incremental="auto")  # noqa: E731  (what a user gets; the plan column says which path)
        inc()
        warm_until_settled(inc)
        plan = occ.last_plan
        rows = _windows(size, w, s, n)
        times = interleaved({"floor": floor_runner(net, x, rows, batch), "inc": inc}, repeats)
        speed = med(times["floor"]) / med(times["inc"])
        lines.append(f"| {w} / {s} | {rows} | {med(times['floor']):.2f} s | {med(times['inc']):.2f} s ({plan.path}) | "
                     f"{speed:.2f}x | {plan.flop_ceiling:.2f}x | {plan.planned_speedup:.2f}x | {speed / plan.flop_ceiling:.0%} |")
    return lines


def approx_table(name: str, size: int, n: int, repeats: int, taus: List[float]) -> List[str]:
    """Krypton's projective-field threshold: speed and error against the exact map."""
    from fastxai.attr import Occlusion

    net = _randomise(MODELS[name]())
    x = torch.randn(n, 3, size, size)
    target = net(x).argmax(1)
    kw = dict(sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), target=target)
    exact = Occlusion(net).attribute(x, **kw, incremental=False)
    lines = [f"| {name} {n}x3x{size}x{size}, 16 / 8: tau | median | speed-up vs exact incremental | max abs error / max abs attribution | mean abs error / mean abs attribution | Pearson r |",
             "|---|---|---|---|---|---|"]
    fns = {t: (lambda t=t: Occlusion(net).attribute(x, **kw, incremental=True, incremental_tau=t)) for t in taus}
    for f in fns.values():
        f()
        warm_until_settled(f)
    times = interleaved(fns, repeats)
    base = med(times[1.0]) if 1.0 in times else None
    for t in taus:
        a = fns[t]().double()
        e = exact.double()
        err_max = float((a - e).abs().max() / e.abs().max())
        err_mean = float((a - e).abs().mean() / e.abs().mean())
        r = float(torch.corrcoef(torch.stack([a.flatten(), e.flatten()]))[0, 1])
        vs = f"{base / med(times[t]):.2f}x" if base else ""
        lines.append(f"| {t} | {summary(times[t])} | {vs} | {err_max:.2e} | {err_mean:.2e} | {r:.5f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--examples", type=int, default=1)
    ap.add_argument("--only", default="resnet18,vgg11,densenet121", help="comma-separated models for the main table")
    ap.add_argument("--no-main", action="store_true")
    ap.add_argument("--no-captum", action="store_true")
    ap.add_argument("--no-full", action="store_true", help="leave out fastxai's full path")
    ap.add_argument("--sweep", action="store_true", help="speed-up vs window size and stride (ResNet-18)")
    ap.add_argument("--approx", action="store_true", help="approximate mode: speed and error per tau (ResNet-18)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "incremental.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = [f"Machine: {machine()}; load average at start: {os.getloadavg()[0]:.1f}", ""]
    if not args.no_main:
        lines += main_table(args.only.split(","), args.size, args.examples, args.repeats, not args.no_captum,
                            not args.no_full) + [""]
    if args.sweep:
        combos = [(8, 8), (16, 16), (16, 8), (32, 32), (32, 16), (64, 64), (64, 32)]
        lines += sweep_table("resnet18", args.size, args.examples, args.repeats, combos) + [""]
    if args.approx:
        lines += approx_table("resnet18", args.size, args.examples, args.repeats, [1.0, 0.75, 0.5, 0.3]) + [""]
    lines.append(f"load average at end: {os.getloadavg()[0]:.1f}")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
