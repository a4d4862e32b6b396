"""The chunk-size search under simulated load: which size it settles on, the biggest chunk it
tries (its peak memory) and what the choice costs per row — deterministic, no model runs.

    python benches/bench_chunk_search.py
    git show dd15dd0:fastxai/engine/batching.py > /tmp/old_batching.py
    python benches/bench_chunk_search.py --old /tmp/old_batching.py   # + the search before issue 16

The simulated call is issue 16's KernelShap case: 8 images x 512 samples = 4,096 rows of
1x224x224 through ``fastxai.models.SmallCNN``, which needs 6.1 MiB per row (measured: peak RSS
of one forward, 32-512 rows) where ``estimate_row_bytes`` says 3.06 MiB. A chunk costs 1 ms +
10 ms per row, 15 % more per row above 256 rows (a mild cache cliff). *quiet*: +0-2 % noise;
*busy*: each chunk takes 1 + Exp(mean 0.5) times longer and 2x more in 20 % of chunks (other
processes on the same cores). 16 GiB available, so the default bound is 4 GiB. 300 seeds each.
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fastxai.engine import batching, memory  # noqa: E402

REAL, EST = int(6.1 * 2**20), int(3.06 * 2**20)


def cost(r: int) -> float:
    return 1e-3 + r * 10e-3 * (1.15 if r > 256 else 1.0)


def noise(rng: random.Random, busy: bool) -> float:
    if not busy:
        return 1 + abs(rng.gauss(0, 0.02))
    return (1 + rng.expovariate(1 / 0.5)) * (2.0 if rng.random() < 0.2 else 1.0)


def simulate(mod, seed: int, busy: bool, total: int = 4096, gran: int = 8):
    """One call: (settled rows, biggest chunk run)."""
    peak = {"bytes": 0}
    mod.clear_cache()
    memory.forget()
    rng = random.Random(seed)
    sizer = mod.ChunkSizer(("sim", seed), total, EST, granularity=gran)
    if hasattr(sizer, "_probe_mem"):
        sizer._probe_mem = lambda device=None: (0, peak["bytes"])  # the process's memory peak
    done, biggest, r = 0, 0, 0
    while done < total:
        r = sizer.next_rows(total - done)
        sizer.clock()  # the engine's start mark (memory is read here while searching)
        peak["bytes"] = max(peak["bytes"], r * REAL)
        sizer.clock()  # its end mark
        sizer.record(r, cost(r) * noise(rng, busy))
        biggest = max(biggest, r)
        done += r
    return sizer.settled_rows or r, biggest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="", help="a copy of an earlier fastxai/engine/batching.py to compare")
    ap.add_argument("--seeds", type=int, default=300)
    args = ap.parse_args()
    memory.available_bytes = lambda device=None: 16 << 30
    mods = [("current", batching)]
    if args.old:
        spec = importlib.util.spec_from_file_location("old_batching", args.old)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)  # type: ignore[union-attr]
        mods.insert(0, ("before", old))
    print(f"| load | search | settled sizes (count of {args.seeds}) | biggest chunk GiB: median / p90 / max | per-row cost ÷ best |")
    print("|---|---|---|---|---:|")
    for busy in (False, True):
        for name, mod in mods:
            res = [simulate(mod, s, busy) for s in range(args.seeds)]
            settled = dict(sorted(collections.Counter(r for r, _ in res).items()))
            gib = sorted(m * REAL / 2**30 for _, m in res)
            eff = statistics.mean(cost(r) / r for r, _ in res) / (cost(256) / 256)
            print(f"| {'busy' if busy else 'quiet'} | {name} | {settled} | {statistics.median(gib):.2f} / "
                  f"{gib[int(0.9 * len(gib))]:.2f} / {gib[-1]:.2f} | {eff:.3f} |")


if __name__ == "__main__":
    main()
