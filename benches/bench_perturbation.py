"""Perturbation family vs Captum, in one run, as ratios (issue 2's protocol).

1 torch thread; fastxai and Captum interleaved (A B A B ...), median of >= 5 rounds with
spread; the model-forward floor = the same rows pushed through the model at its best batch
size, nothing else. fastxai's first call (which calibrates its chunk size) is timed apart.

    python benches/bench_perturbation.py [--repeats 5] [--out benches/results/perturbation.md]
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict, List, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benches.models import SmallResNet, mlp  # noqa: E402
from benches.timing import interleaved, machine, med, summary, timed, warm_until_settled  # noqa: E402


def best_floor_batch(model: torch.nn.Module, example: torch.Tensor) -> int:
    """The batch size with the lowest forward time per row."""
    best, best_b = float("inf"), 0
    with torch.no_grad():
        for b in (8, 16, 32, 64, 128, 256, 512):
            x = example[:1].expand(b, *example.shape[1:]).contiguous()
            model(x)
            t = min(timed(lambda: model(x)) for _ in range(3)) / b
            if t < best:
                best, best_b = t, b
    return best_b


def floor_runner(model: torch.nn.Module, example: torch.Tensor, rows: int, batch: int) -> Callable[[], None]:
    """Pushes ``rows`` rows through the model at ``batch`` rows per call, nothing else."""
    x = example[:1].expand(batch, *example.shape[1:]).contiguous()

    def run() -> None:
        with torch.no_grad():
            for start in range(0, rows, batch):
                model(x[: min(batch, rows - start)])

    return run


def run(repeats: int, only: str = "") -> List[str]:
    import captum.attr as ca

    import fastxai.attr as fa

    torch.manual_seed(0)
    rows_out = []
    net = SmallResNet().eval()
    x = torch.randn(8, 3, 64, 64)
    target = net(x).argmax(1)
    sp = torch.arange(64).reshape(8, 8).repeat_interleave(8, 0).repeat_interleave(8, 1).reshape(1, 1, 64, 64)
    tab = mlp().eval()
    xt = torch.randn(64, 40)
    cases: List[Tuple[str, torch.nn.Module, torch.Tensor, int, Dict[str, Callable[[], object]]]] = [
        ("Occlusion (3,8,8)/(3,4,4), conv 8x3x64x64", net, x, 225 * 8 + 8, {
            "captum ppe=1": lambda: ca.Occlusion(net).attribute(x, (3, 8, 8), (3, 4, 4), target=target),
            "captum ppe=64": lambda: ca.Occlusion(net).attribute(x, (3, 8, 8), (3, 4, 4), target=target, perturbations_per_eval=64),
            "fastxai auto": lambda: fa.Occlusion(net).attribute(x, (3, 8, 8), (3, 4, 4), target=target),
        }),
        ("FeatureAblation 64 superpixels, conv 8x3x64x64", net, x, 65 * 8, {
            "captum ppe=1": lambda: ca.FeatureAblation(net).attribute(x, target=target, feature_mask=sp),
            "captum ppe=64": lambda: ca.FeatureAblation(net).attribute(x, target=target, feature_mask=sp, perturbations_per_eval=64),
            "fastxai auto": lambda: fa.FeatureAblation(net).attribute(x, target=target, feature_mask=sp),
        }),
        ("Occlusion (4,)/(2,), MLP 64x40", tab, xt, 19 * 64 + 64, {
            "captum ppe=1": lambda: ca.Occlusion(tab).attribute(xt, (4,), 2, target=0),
            "fastxai auto": lambda: fa.Occlusion(tab).attribute(xt, (4,), 2, target=0),
        }),
        ("FeatureAblation 40 features, MLP 64x40", tab, xt, 41 * 64, {
            "captum ppe=1": lambda: ca.FeatureAblation(tab).attribute(xt, target=0),
            "fastxai auto": lambda: fa.FeatureAblation(tab).attribute(xt, target=0),
        }),
        ("RISE 250 masks grid 7, conv 8x3x64x64", net, x, 250 * 8 + 8, {
            "fastxai auto": lambda: fa.RISE(net).attribute(x, target=target, n_masks=250, seed=0),
        }),
    ]
    for title, model, inp, rows, fns in cases:
        if only not in title:
            continue
        from fastxai.engine import clear_cache

        clear_cache()
        t_first = timed(fns["fastxai auto"])  # includes calibration
        settle = 1 + warm_until_settled(fns["fastxai auto"])
        fb = best_floor_batch(model, inp)
        fns = {"floor": floor_runner(model, inp, rows, fb), **fns}
        times = interleaved(fns, repeats)
        fx = med(times["fastxai auto"])
        floor = med(times.pop("floor"))
        rows_out.append(f"| **{title}** | floor {floor:.3f} s ({rows} rows at batch {fb}) | first fastxai call (calibrating) {t_first:.3f} s; settled after {settle} call(s) | |")
        for name, ts in times.items():
            ratio_floor = med(ts) / floor
            vs = med(ts) / fx
            rows_out.append(f"|  {name} | {summary(ts)} | {ratio_floor:.2f}x floor | {vs:.2f}x fastxai time |")
    return rows_out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="", help="run only the cases whose title contains this text (e.g. MLP)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "perturbation.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = [f"Machine: {machine()}", "", "| case / runner | median (spread) | ÷ floor | ÷ fastxai (= fastxai speed-up) |", "|---|---|---|---|"]
    lines += run(args.repeats, args.only)
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
