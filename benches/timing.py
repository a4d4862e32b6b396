"""Interleaved A/B timing: median of >= 5 pairs and spread, 1 torch thread, machine info."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch

# Benches measure a process's own chunk-size search (they call clear_cache() to start one): the
# on-disk calibration cache would hand them a choice from an earlier run — on another day's load.
# bench_overhead's fresh-process part sets the variable itself for its cold / warm rows.
os.environ.setdefault("FASTXAI_CALIBRATION_CACHE", "0")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)"


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def warm_until_settled(fn: Callable[[], object], max_calls: int = 12) -> int:
    """Call ``fn`` until fastxai's chunk-size searches are finished (a short call leaves its
    search to the next one); returns the number of calls made. Steady state is what the
    interleaved pairs then time; the first call is reported apart by each bench."""
    from fastxai.engine import unfinished_searches

    calls = 0
    while unfinished_searches() and calls < max_calls:
        fn()
        calls += 1
    return calls


def interleaved(fns: Dict[str, Callable[[], object]], repeats: int = 5) -> Dict[str, List[float]]:
    """Run each function once per round, in the same order (A B A B ...); seconds per run."""
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return times


def summary(ts: List[float]) -> str:
    return f"{statistics.median(ts):.3f} s (min {min(ts):.3f}, max {max(ts):.3f})"


def med(ts: List[float]) -> float:
    return statistics.median(ts)
