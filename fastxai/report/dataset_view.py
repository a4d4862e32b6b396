"""The audit's view of a bench config's dataset, built by the bench's own loader
(``fastxai.bench.config_load.load_config`` + ``fastxai.bench.dataset.build_table``), so the audit
sees exactly the images, patients, splits, groups and boxes a benchmark of that config would."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union


@dataclass
class DatasetView:
    """samples (one row per image), boxes (model-input frame), group columns, optional image stats."""

    samples: Any
    boxes: Any
    group_columns: List[str]
    labels: List[str]
    box_frame: Tuple[int, int]
    stats: Optional[Any] = None
    bad_files: Optional[List[Tuple[str, str]]] = None


def dataset_view(config: Union[str, Path, Any], with_stats: bool = True) -> DatasetView:
    """A config file (or a loaded ``BenchConfig``) -> its DatasetView. No model is built or run."""
    from fastxai.bench.config_load import load_config
    from fastxai.bench.dataset import build_table

    cfg = load_config(config, check_data=False) if isinstance(config, (str, Path)) else config
    table = build_table(cfg)
    hw = tuple(cfg.dataset.preprocess.hw())
    stats = _stats(cfg, table.samples, hw) if with_stats else None
    return DatasetView(table.samples, table.boxes, list(table.group_columns), list(table.labels), hw, stats,
                       list(table.bad_files))


def _stats(cfg: Any, samples: Any, hw: Tuple[int, int]) -> Any:
    """Per image: input height / width and intensity mean / SD in [0, 1] (the config's decoding and
    resizing, without its normalisation)."""
    import numpy as np
    import pandas as pd

    from fastxai.bench.imageio import read_image

    pre = cfg.dataset.preprocess
    rows = []
    for sid, img in zip(samples["sample_id"], samples["image"]):
        x = read_image(os.path.join(cfg.dataset.root, img), hw, 1, [0.0], [1.0], pre.window,
                       pre.invert_monochrome1).numpy().astype(np.float64)
        rows.append((sid, hw[0], hw[1], float(x.mean()), float(x.std())))
    return pd.DataFrame(rows, columns=["sample_id", "height", "width", "intensity_mean", "intensity_std"])
