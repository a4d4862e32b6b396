"""The GPU check (issue 16), run by ``benches/gpu_check.sh``: every Triton kernel against its
torch reference, then the GPU table — fastxai vs Captum vs the floor, with peak memory.

    python benches/gpu_check.py --out DIR                      # on a GPU (defaults: cuda, full size)
    TRITON_INTERPRET=1 python benches/gpu_check.py --tiny --device cpu --out DIR   # CI smoke test

Table rows (ResNet-18 layout, ``fastxai.models.resnet18``, 10 classes, eval, ``--images`` images of
3x224x224): RISE 4,000 masks (grid 7; not in Captum), Occlusion (3,16,16) stride (3,8,8) (729
windows; Captum at its default ``perturbations_per_eval=1`` and at 64), IntegratedGradients
n_steps=50 (Captum's default single batch), KernelShap n_samples=512 on 64 square superpixels
(Captum at ``perturbations_per_eval=64``: its default of 1 runs 512 one-image forwards per
image). Floor = the same rows through the model at its fastest batch (64-512 rows), forward
only, or forward + input-backward for IG. Peak = ``torch.cuda.max_memory_allocated`` growth
during one call. fastxai's first call (Triton compilation, chunk-size search) is reported
apart; then median of ``--reps``. Rows that would run past ``--budget`` seconds are skipped and
say so. Writes ``kernels.md``, ``table.md`` and ``summary.md`` to ``--out``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_source_tree() -> None:
    """Import fastxai from this checkout (``fastxai._C`` built in place) and ``fastxai.kernels``
    from ``kernels/`` (an installed package maps it there; a bare checkout cannot)."""
    sys.path[:0] = [REPO, os.path.join(REPO, "benches")]
    import fastxai

    spec = importlib.util.spec_from_file_location(
        "fastxai.kernels", os.path.join(REPO, "kernels", "__init__.py"),
        submodule_search_locations=[os.path.join(REPO, "kernels")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fastxai.kernels"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    fastxai.kernels = mod  # type: ignore[attr-defined]


def environment(device: str) -> List[str]:
    import torch

    import fastxai
    from fastxai import _ext

    lines = [f"- torch {torch.__version__} (CUDA {torch.version.cuda}), python {sys.version.split()[0]}"]
    try:
        import triton

        lines.append(f"- triton {triton.__version__}; TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET', '0')}")
    except ImportError:
        lines.append("- triton: not installed")
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        lines.append(f"- device: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs")
    lines.append(f"- fastxai {fastxai.__version__}; fastxai._C built: {_ext.HAS_CPP}; backends: {fastxai.active_backends()}")
    try:
        import captum

        lines.append(f"- captum {captum.__version__}")
    except ImportError:
        lines.append("- captum: not importable (Captum columns are skipped)")
    return lines


class Timer:
    """Wall time of a call with the device synchronised before and after; peak device memory."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device.startswith("cuda")
        self.torch = torch

    def __call__(self, fn: Callable[[], Any]) -> Tuple[float, Optional[float]]:
        t = self.torch
        if self.cuda:
            t.cuda.synchronize()
            t.cuda.reset_peak_memory_stats()
            base = t.cuda.memory_allocated()
        t0 = time.perf_counter()
        fn()
        if self.cuda:
            t.cuda.synchronize()
        dt = time.perf_counter() - t0
        peak = (t.cuda.max_memory_allocated() - base) / 2**20 if self.cuda else None
        return dt, peak


def floor_runner(model: Any, x: Any, rows: int, backward: bool, sizes: Tuple[int, ...], timer: Timer) -> Callable[[], None]:
    """``rows`` copies of ``x``'s images through the model at the fastest of ``sizes`` rows per call."""
    import torch

    def make(bs: int) -> Callable[[], None]:
        xs = x.repeat(-(-bs // x.shape[0]), 1, 1, 1)[:bs].contiguous()

        def run() -> None:
            for start in range(0, rows, bs):
                xi = xs[: min(bs, rows - start)]
                if backward:
                    xi = xi.detach().requires_grad_()
                    torch.autograd.grad(model(xi)[:, 0].sum(), xi)
                else:
                    with torch.no_grad():
                        model(xi)
        return run

    best, best_t = sizes[0], float("inf")
    for bs in sizes:
        run = make(bs)
        run()
        t = min(timer(run)[0] for _ in range(2))
        if t < best_t:
            best, best_t = bs, t
    return make(best)


def table(args: argparse.Namespace, t_start: float) -> List[str]:
    import warnings

    import torch

    import fastxai.attr as fa
    from fastxai.models import resnet18

    try:
        import captum.attr as ca
    except ImportError:
        ca = None
    warnings.filterwarnings("ignore", message="You are providing multiple inputs")  # Captum's Lime notice
    dev = torch.device(args.device)
    tiny = args.tiny
    side, n = (32, 2) if tiny else (224, args.images)
    torch.manual_seed(0)
    net = resnet18(in_channels=3, num_classes=10, width=4 if tiny else 64).eval().to(dev)
    x = torch.randn(n, 3, side, side, device=dev)
    g = 2 if tiny else 8
    cell = side // g
    mask = torch.arange(g * g, device=dev).reshape(g, g).repeat_interleave(cell, 0).repeat_interleave(cell, 1)[None, None]
    masks, steps, samples, win, stride = (8, 2, 24, 16, 8) if tiny else (4000, 50, 512, 16, 8)
    n_win = ((side - win) // stride + 1) ** 2
    sizes = (8, 16) if tiny else (64, 128, 256, 512)
    timer = Timer(args.device)
    rows_spec: List[Tuple[str, int, bool, Dict[str, Callable[[], Any]]]] = [
        (f"RISE {masks:,} masks, grid 7", masks * n, False, {
            "fastxai": lambda: fa.RISE(net).attribute(x, target=0, n_masks=masks, seed=0)}),
        (f"Occlusion (3,{win},{win}) stride (3,{stride},{stride}), {n_win} windows", n_win * n + n, False, {
            "fastxai": lambda: fa.Occlusion(net).attribute(x, (3, win, win), (3, stride, stride), target=0),
            "captum ppe=1": lambda: ca.Occlusion(net).attribute(x, (3, win, win), (3, stride, stride), target=0),
            "captum ppe=64": lambda: ca.Occlusion(net).attribute(x, (3, win, win), (3, stride, stride), target=0,
                                                                 perturbations_per_eval=64)}),
        (f"IntegratedGradients n_steps={steps}", steps * n, True, {
            "fastxai": lambda: fa.IntegratedGradients(net).attribute(x, target=0, n_steps=steps),
            "captum": lambda: ca.IntegratedGradients(net).attribute(x, target=0, n_steps=steps)}),
        (f"KernelShap n_samples={samples}, {g * g} superpixels", samples * n, False, {
            "fastxai": lambda: fa.KernelShap(net).attribute(x, target=0, n_samples=samples, feature_mask=mask, seed=0),
            "captum ppe=64": lambda: ca.KernelShap(net).attribute(x, target=0, n_samples=samples, feature_mask=mask,
                                                                  perturbations_per_eval=64)}),
    ]
    def over_budget() -> bool:  # --budget 0: no limit (the CI smoke test must not depend on load)
        return args.budget > 0 and time.perf_counter() - t_start > args.budget

    lines = [f"### GPU table: ResNet-18 layout, {n} x 3x{side}x{side}, median of {args.reps}", "",
             "| case | runner | first call s | median s | ÷ floor | peak MiB |", "|---|---|---:|---:|---:|---:|"]
    for title, rows, backward, runners in rows_spec:
        if over_budget():
            lines.append(f"| {title} | — | skipped: past the {args.budget:.0f} s budget | | | |")
            continue
        fl = floor_runner(net, x, rows, backward, sizes, timer)
        t_floor = statistics.median(timer(fl)[0] for _ in range(args.reps))
        lines.append(f"| **{title}** | floor ({rows:,} rows) | | {t_floor:.3f} | 1.00 | |")
        for name, fn in runners.items():
            if name.startswith("captum") and ca is None:
                continue
            if over_budget():
                lines.append(f"| {title} | {name} | skipped: past the {args.budget:.0f} s budget | | | |")
                continue
            first, peak = timer(fn)
            reps = args.reps if first < 20 else 1  # a very slow runner is timed once
            ts = [timer(fn)[0] for _ in range(reps)]
            t = statistics.median(ts)
            pk = f"{peak:.0f}" if peak is not None else "—"
            lines.append(f"| {title} | {name} | {first:.3f} | {t:.3f} | {t / t_floor:.2f} | {pk} |")
            print(lines[-1], flush=True)
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (CI, interpreter)")
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(REPO, "benches", "results", "gpu"))
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None, help="input draws (default: from the clock)")
    ap.add_argument("--budget", type=float, default=200.0, help="seconds (from the start) after which table rows are skipped; 0: no limit")
    ap.add_argument("--skip-table", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        args.reps = min(args.reps, 1)
    t_start = time.perf_counter()
    use_source_tree()
    import torch

    torch.set_num_threads(min(8, os.cpu_count() or 1))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible; use --device cpu with TRITON_INTERPRET=1", file=sys.stderr)
        return 2
    from gpu_check_kernels import run_checks

    os.makedirs(args.out, exist_ok=True)
    env = environment(args.device)
    print("\n".join(env), flush=True)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    klines, ok = run_checks(args.device, seed, big=not args.tiny)
    print("\n".join(klines), flush=True)
    tlines = [] if args.skip_table else table(args, t_start)
    summary = ["# fastxai GPU check", "", *env, "", *klines, *tlines, "",
               f"Kernel checks: {'all passed' if ok else 'FAILED'}; total {time.perf_counter() - t_start:.0f} s."]
    for name, body in (("kernels.md", klines), ("table.md", tlines), ("summary.md", summary)):
        with open(os.path.join(args.out, name), "w") as fh:
            fh.write("\n".join(body) + "\n")
    print("\n".join(tlines + [summary[-1]]), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
