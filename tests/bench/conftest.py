"""Shared fixtures: a tiny synthetic dataset (32 px) and tiny configs written as TOML."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY = """
[run]
out = "{out}"
batch_size = {batch_size}
seed = 0
cache_dir = "{cache}"
max_samples = {max_samples}
save_maps = {save_maps}
report = false

[dataset]
root = "{root}"
labels = ["lesion"]
group_columns = ["sex", "site"]

[dataset.preprocess]
size = 32
mean = [0.4]
std = [0.2]

[split]
fractions = {{ train = 0.5, val = 0.2, test = 0.3 }}

[[models]]
name = "cnn"
arch = "small_cnn"
params = {{ width = 4 }}
train = {{ epochs = 1, batch_size = 16 }}

{methods}

[explain]
targets = "all"

[metrics]
names = {metrics}
curve_steps = 4

[groups]
n_boot = 50
min_group_size = 2
{extra}
"""

REF_METRICS = ["pointing_game", "border_mass", "deletion_auc"]
SALIENCY = '[[methods]]\nname = "Saliency"\n'


def write_config(path: Path, root: str, out: str, cache: str, *, methods: str = SALIENCY, batch_size: int = 4,
                 max_samples: int = 8, metrics: Optional[list] = None, save_maps: bool = False, extra: str = "") -> Path:
    """A tiny TOML config over ``root``."""
    metrics = metrics or ["pointing_game", "border_mass", "sparseness"]
    text = TINY.format(out=out, root=root, cache=cache, batch_size=batch_size, max_samples=max_samples,
                       methods=methods, metrics="[" + ", ".join(f'"{m}"' for m in metrics) + "]",
                       save_maps=str(save_maps).lower(), extra=extra)
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def syn_root(tmp_path_factory) -> str:
    """A 40-image, 32 px synthetic dataset (shared by the bench tests)."""
    from fastxai.demo.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn")
    write_synthetic(root, n_images=40, size=32, seed=3)
    return str(root)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> str:
    """One model cache for the session (the tiny CNN trains once)."""
    return str(tmp_path_factory.mktemp("cache"))


def subprocess_env() -> dict:
    """Environment for ``python -m fastxai`` children: this repo first, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


PYTHON = sys.executable


@pytest.fixture(scope="session")
def ref_run(tmp_path_factory, syn_root, model_cache) -> Path:
    """One finished 1-process run (10 test units, batches of 3, maps saved) shared by several tests."""
    from fastxai.bench import run_bench

    d = tmp_path_factory.mktemp("ref")
    cfg = write_config(d / "ref.toml", syn_root, str(d / "run"), model_cache, batch_size=3, max_samples=10,
                       save_maps=True, metrics=REF_METRICS)
    assert run_bench(str(cfg), quiet=True) == 0
    return d / "run"
