"""The streaming loader: global batches dealt to ranks, worker processes, bad files as records."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fastxai.bench.config import PreprocessSection
from fastxai.bench.loader import UnitDataset, batch_plan, make_loader, rank_batches


def test_batches_do_not_depend_on_ranks():
    plan = batch_plan(10, 3)
    assert plan == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert rank_batches(4, 0, 2) == [0, 2] and rank_batches(4, 1, 2) == [1, 3]
    assert sorted(rank_batches(4, 0, 2) + rank_batches(4, 1, 2)) == rank_batches(4, 0, 1)
    assert rank_batches(4, 0, 1, skip=[1, 2]) == [0, 3]


def test_workers_and_bad_files(tmp_path):
    from PIL import Image

    for i in range(5):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "2.png").write_bytes(b"corrupt")
    units = pd.DataFrame({"unit": range(5), "sample_id": [f"{i}.png" for i in range(5)], "target": 0})
    ds = UnitDataset(units, str(tmp_path), PreprocessSection(size=8, mean=[0.0], std=[1.0]))
    plan = batch_plan(5, 2)
    batches = list(make_loader(ds, plan, [0, 1, 2], num_workers=1))
    assert [b["unit"].tolist() for b in batches] == [[0, 1], [3], [4]]
    assert batches[1]["errors"][0][0].endswith("2.png") and "Error" in batches[1]["errors"][0][1]
    assert torch.allclose(batches[2]["image"][0, 0, 0, 0], torch.tensor(160 / 255))
