"""Bench two git revisions of fastxai side by side, interleaved, in one run.

Each revision is checked out into a temporary directory (``git archive``); the compiled
``fastxai._C`` of this checkout is reused when ``csrc/`` and ``setup.py`` are the same at
that revision, else it is built there (``setup.py build_ext --inplace``). One long-lived
worker process per revision imports that revision's fastxai (public API only), warms every
workload up (chunk-size calibration), then the parent asks the two workers for one timed
call in turn (A B A B ...), so machine load drifts hit both columns alike. Reported: median
and min-max per revision and the ratio B / A. 1 torch thread.

    python benches/compare_revisions.py [REV_A=dd15dd0] [REV_B=HEAD] [--families perturbation,sampling]
        [--repeats 7] [--warm 4] [--small] [--out results.md]

Smoke check (about 30 s): ``python benches/compare_revisions.py --small --repeats 1 --warm 1``.

Take final numbers on a quiet machine; ``--small`` is a quick check that everything runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- workloads
def workloads(families: List[str], small: bool) -> Dict[str, Callable[[], object]]:
    """name -> zero-argument call, built from fastxai's public API of the imported revision."""
    import torch
    from torch import nn

    import fastxai.attr as fa

    torch.manual_seed(0)
    side, n_img = (32, 2) if small else (64, 8)
    conv = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10)).eval()
    mlp = nn.Sequential(nn.Linear(40, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2)).eval()
    x = torch.randn(n_img, 3, side, side)
    tgt = conv(x).argmax(1)
    cells = side // 8
    sp = (torch.arange(side) // cells)
    sp = (sp[:, None] * 8 + sp[None, :]).reshape(1, 1, side, side)
    xt = torch.randn(16 if small else 64, 40)
    ns = 64 if small else 512
    cases: Dict[str, Callable[[], object]] = {}
    if "perturbation" in families:
        cases.update({
            "Occlusion conv": lambda: fa.Occlusion(conv).attribute(x, (3, 8, 8), (3, 4, 4), target=tgt),
            "FeatureAblation conv 64 sp": lambda: fa.FeatureAblation(conv).attribute(x, target=tgt, feature_mask=sp),
            "RISE conv": lambda: fa.RISE(conv).attribute(x, target=tgt, n_masks=100 if small else 250, grid_size=7, seed=0),
            "Occlusion MLP": lambda: fa.Occlusion(mlp).attribute(xt, (4,), 2, target=0),
            "FeatureAblation MLP": lambda: fa.FeatureAblation(mlp).attribute(xt, target=0),
            "FeaturePermutation MLP": lambda: fa.FeaturePermutation(mlp).attribute(xt, target=0, seed=0),
        })
    if "sampling" in families:
        cases.update({
            "KernelShap conv 64 sp": lambda: fa.KernelShap(conv).attribute(x, target=tgt, feature_mask=sp, n_samples=ns // 2, seed=0),
            "Lime conv 64 sp": lambda: fa.Lime(conv).attribute(x, target=tgt, feature_mask=sp, n_samples=ns // 2, seed=0),
            "KernelShap MLP (Captum draws)": lambda: _seeded(lambda: fa.KernelShap(mlp).attribute(xt, target=0, n_samples=ns)),
            "KernelShap MLP seed": lambda: fa.KernelShap(mlp).attribute(xt, target=0, n_samples=ns, seed=0),
            "Lime MLP seed": lambda: fa.Lime(mlp).attribute(xt, target=0, n_samples=ns, seed=0),
            "ShapleyValueSampling MLP": lambda: fa.ShapleyValueSampling(mlp).attribute(xt, target=0, n_samples=5, seed=0),
            "ShapleyValues MLP 10 groups": lambda: fa.ShapleyValues(mlp).attribute(
                xt, target=0, feature_mask=(torch.arange(40) // 4)[None]),
        })
    if "gradient" in families:
        cases.update({
            "IntegratedGradients conv": lambda: fa.IntegratedGradients(conv).attribute(x, target=tgt, n_steps=50),
            "IntegratedGradients MLP": lambda: fa.IntegratedGradients(mlp).attribute(xt, target=0, n_steps=50),
            "GradientShap conv": lambda: fa.GradientShap(conv).attribute(x, torch.zeros(4, 3, side, side), target=tgt, n_samples=20, seed=0),
            "Saliency conv": lambda: fa.Saliency(conv).attribute(x, target=tgt),
            "DeepLift conv": lambda: fa.DeepLift(conv).attribute(x, target=tgt),
            "NoiseTunnel(IG) conv": lambda: fa.NoiseTunnel(fa.IntegratedGradients(conv)).attribute(
                x, nt_samples=4, stdevs=0.1, target=tgt, n_steps=20),
            "LayerConductance conv": lambda: fa.LayerConductance(conv, conv[2]).attribute(x, target=tgt, n_steps=20),
            "LayerIntegratedGradients conv": lambda: fa.LayerIntegratedGradients(conv, conv[2]).attribute(
                x, target=tgt, n_steps=20),
        })
    return cases


def _seeded(fn: Callable[[], object]) -> object:
    import torch

    torch.manual_seed(0)
    return fn()


# ------------------------------------------------------------------------------- worker
def worker(rev_dir: str, families: List[str], small: bool, warm: int) -> None:
    """Serve timing requests on stdin: a workload name -> one timed call, seconds on stdout."""
    sys.path.insert(0, rev_dir)
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # e.g. under-determined fits at --small sizes

    torch.set_num_threads(1)
    import fastxai

    assert os.path.dirname(os.path.dirname(os.path.abspath(fastxai.__file__))) == os.path.abspath(rev_dir), \
        f"imported {fastxai.__file__}, not the revision under {rev_dir}"
    cases = workloads(families, small)
    for fn in cases.values():  # warm up: caches, chunk-size calibration
        for _ in range(warm):
            fn()
    print("READY " + "|".join(cases), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            break
        t0 = time.perf_counter()
        cases[name]()
        print(f"{time.perf_counter() - t0:.6f}", flush=True)


# ------------------------------------------------------------------------------- parent
def checkout(rev: str, root: str) -> str:
    """Export ``rev`` into ``root/<rev>`` with a usable fastxai._C; returns the directory."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", rev], capture_output=True, text=True, check=True).stdout.strip()
    dest = os.path.join(root, sha[:12])
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", REPO, "archive", sha], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    same = subprocess.run(["git", "-C", REPO, "diff", "--quiet", sha, "--", "csrc", "setup.py"]).returncode == 0
    built = [f for f in os.listdir(os.path.join(REPO, "fastxai")) if f.startswith("_C") and f.endswith(".so")]
    if same and built:
        shutil.copy(os.path.join(REPO, "fastxai", built[0]), os.path.join(dest, "fastxai"))
    else:
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=dest, check=True)
    # the Triton kernels ship as a separate top-level package in an install; expose them
    os.symlink(os.path.join(dest, "kernels"), os.path.join(dest, "fastxai", "kernels"))
    return dest


def start(rev_dir: str, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", rev_dir, "--families", args.families,
           "--warm", str(args.warm)] + (["--small"] if args.small else [])
    # no chunk-size choice read from the user's on-disk cache (another day's load): each worker
    # searches afresh, as a revision without the cache does (same policy as benches/timing.py)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=rev_dir,
               FASTXAI_CALIBRATION_CACHE="0")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=rev_dir)


def ask(proc: subprocess.Popen, name: str) -> float:
    proc.stdin.write(name + "\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def compare(args: argparse.Namespace) -> List[str]:
    root = tempfile.mkdtemp(prefix="fastxai_revs_")
    try:
        dirs = [checkout(r, root) for r in (args.rev_a, args.rev_b)]
        procs = [start(d, args) for d in dirs]
        names = None
        for p in procs:
            line = p.stdout.readline().strip()
            if not line.startswith("READY"):
                raise RuntimeError(f"worker failed to start: {line!r}")
            names = line[len("READY "):].split("|")
        times: Dict[str, List[List[float]]] = {n: [[], []] for n in names}
        for _ in range(args.repeats):
            for n in names:
                for i, p in enumerate(procs):
                    times[n][i].append(ask(p, n))
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
            p.wait(timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    head = [f"fastxai {args.rev_a} (A) vs {args.rev_b} (B), interleaved A B, {args.repeats} rounds, "
            f"1 torch thread{' (--small)' if args.small else ''}; seconds: median [min-max]", "",
            f"| workload | A | B | B / A |", "|---|---:|---:|---:|"]
    for n in names:
        a, b = times[n]
        ma, mb = statistics.median(a), statistics.median(b)
        head.append(f"| {n} | {ma:.4f} [{min(a):.4f}-{max(a):.4f}] | {mb:.4f} [{min(b):.4f}-{max(b):.4f}] | {mb / ma:.3f} |")
    return head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rev_a", nargs="?", default="dd15dd0")
    ap.add_argument("rev_b", nargs="?", default="HEAD")
    ap.add_argument("--families", default="perturbation,sampling")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warm", type=int, default=4)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--worker")
    args = ap.parse_args()
    fams = args.families.split(",")
    if args.worker:
        worker(args.worker, fams, args.small, args.warm)
        return
    if not (args.rev_a and args.rev_b):
        ap.error("give two revisions")
    lines = compare(args)
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
