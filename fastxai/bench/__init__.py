"""fastxai.bench: methods x models x datasets at dataset scale — resumable, sharded, profiled.

``run_bench(CONFIG)`` (CLI ``fastxai bench CONFIG``; ``torchrun --nproc_per_node=N -m fastxai
bench CONFIG`` shards it), ``open_run(RUN_DIR)`` reads a run folder as pandas DataFrames
(docs/RUN_FOLDER.md), ``load_config(CONFIG)`` validates a config. See docs/bench.md.
Heavy dependencies (pydantic, pyarrow, pandas) are imported by the functions that need them.
"""
from __future__ import annotations

from typing import Any


def open_run(run_dir: str) -> Any:
    """Open a bench run folder: a ``fastxai.bench.run_reader.Run``."""
    from fastxai.bench.run_reader import open_run as _open

    return _open(run_dir)


def load_config(path: str, overrides: Any = None, check_data: bool = True) -> Any:
    """Read and validate a config (``fastxai.bench.config_load.load_config``)."""
    from fastxai.bench.config_load import load_config as _load

    return _load(path, overrides, check_data)


def run_bench(config: Any, quiet: bool = False, overrides: Any = None) -> int:
    """Run or resume a benchmark (``fastxai.bench.runner.run_bench``); 0 when every cell is done."""
    from fastxai.bench.runner import run_bench as _run

    return _run(config, quiet=quiet, overrides=overrides)


__all__ = ["open_run", "load_config", "run_bench"]
