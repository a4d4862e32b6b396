"""How cost grows: time vs number of RISE masks and vs image side, each beside the floor.

    python benches/bench_scaling.py                 # -> benches/results/scaling.md
    python benches/bench_scaling.py --quick         # tiny sizes: checks that it runs

Model: the ~1M-parameter ResNet-style net of the other benches (``benches.models.SmallResNet``),
eval, 3 channels, 1 torch thread, ``--images`` images per call (default 2). fastxai runs until
its chunk-size search is settled, then fastxai and the floor alternate (median of ``--reps``).
The floor is the same number of rows pushed through the model at its fastest batch size and
nothing else (forward only for RISE / Occlusion; forward + input-backward for IG).

* masks: RISE with 250, 500, 1,000, 2,000 and 4,000 masks (grid 7) at 64x64;
* side: RISE 1,000 masks, Occlusion with 64 windows (side/8 square, stride side/8) and
  IntegratedGradients n_steps=50 at sides 64, 96, 128, 160 and 224.

The ``µs / row`` column is what a user multiplies by (images x masks, or x windows, or x steps)
to predict a run's cost on this machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, List, Tuple

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from benches.bench_perturbation import best_floor_batch, floor_runner  # noqa: E402
from benches.models import SmallResNet  # noqa: E402
from benches.timing import machine, timed, warm_until_settled  # noqa: E402


def pair(ours: Callable[[], object], floor: Callable[[], object], reps: int) -> Tuple[float, float, float]:
    """(first fastxai call, median fastxai, median floor), interleaved after settling."""
    t_first = timed(ours)
    warm_until_settled(ours)
    floor()
    a: List[float] = []
    b: List[float] = []
    for _ in range(reps):
        a.append(timed(ours))
        b.append(timed(floor))
    return t_first, statistics.median(a), statistics.median(b)


def grad_floor_runner(model: torch.nn.Module, x: torch.Tensor, rows: int,
                      sizes: Tuple[int, ...] = (16, 32, 64)) -> Callable[[], None]:
    """Forward + backward w.r.t. the input for ``rows`` rows (copies of ``x``'s images) at the
    fastest of ``sizes`` rows per call, nothing else."""
    def runner(bs: int) -> Callable[[], None]:
        xs = x.repeat(-(-bs // x.shape[0]), *([1] * (x.dim() - 1)))[:bs]

        def run() -> None:
            done = 0
            while done < rows:
                r = min(bs, rows - done)
                xi = xs[:r].detach().requires_grad_()
                torch.autograd.grad(model(xi)[:, 0].sum(), xi)
                done += r
        return run

    best, best_t = sizes[0], float("inf")
    for bs in sizes:
        run = runner(bs)
        run()  # warm-up at this shape
        t = min(timed(run) for _ in range(2))
        if t < best_t:
            best, best_t = bs, t
    return runner(best)


def row(label: str, rows: int, first: float, ours: float, floor: float) -> str:
    return (f"| {label} | {rows:,} | {first:.3f} | {ours:.3f} | {floor:.3f} | {ours / floor:.2f} | "
            f"{ours / rows * 1e6:.0f} |")


def run(images: int, masks: List[int], sides: List[int], reps: int, side_masks: int) -> List[str]:
    import fastxai.attr as fa
    from fastxai.engine.batching import clear_cache

    torch.manual_seed(0)
    net = SmallResNet().eval()
    head = ["| case | model rows | first call s | fastxai s | floor s | ÷ floor | µs / row |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    out = [f"### Time vs number of RISE masks ({images} x 3x{sides[0]}x{sides[0]}, grid 7)", ""] + head
    x = torch.randn(images, 3, sides[0], sides[0])
    fb = best_floor_batch(net, x)
    for p in masks:
        clear_cache()
        rows = p * images
        got = pair(lambda: fa.RISE(net).attribute(x, target=0, n_masks=p, seed=0),
                   floor_runner(net, x, rows, fb), reps)
        out.append(row(f"RISE {p:,} masks", rows, *got))
        print(out[-1], flush=True)
    out += ["", f"### Time vs image side ({images} images, 3 channels)", ""] + head
    for side in sides:
        x = torch.randn(images, 3, side, side)
        fb = best_floor_batch(net, x)
        w = side // 8
        cases = [
            (f"RISE {side_masks:,} masks, {side}²", side_masks * images,
             lambda: fa.RISE(net).attribute(x, target=0, n_masks=side_masks, seed=0), False),
            (f"Occlusion 64 windows ({w}x{w}), {side}²", 64 * images,
             lambda: fa.Occlusion(net).attribute(x, (3, w, w), (3, w, w), target=0), False),
            (f"IG n_steps=50, {side}²", 50 * images,
             lambda: fa.IntegratedGradients(net).attribute(x, target=0, n_steps=50), True),
        ]
        for label, rows, fn, backward in cases:
            clear_cache()
            fl = grad_floor_runner(net, x, rows) if backward else floor_runner(net, x, rows, fb)
            got = pair(fn, fl, reps)
            out.append(row(label, rows, *got))
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    ap.add_argument("--out", default=os.path.join(REPO, "benches", "results", "scaling.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    # "first call" means a search: no chunk-size choice from an earlier run's on-disk cache
    os.environ.setdefault("FASTXAI_CALIBRATION_CACHE", "0")
    if args.quick:
        masks, sides, reps, images, side_masks = [16, 32], [16, 24], 1, 1, 16
    else:
        masks, sides, reps, images = [250, 500, 1000, 2000, 4000], [64, 96, 128, 160, 224], args.reps, args.images
        side_masks = 1000
    lines = [f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M')}. First call = fastxai's first call "
             "with its chunk-size search (in-process cache cleared per row, on-disk cache off).", ""]
    lines += run(images, masks, sides, reps, side_masks)
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
