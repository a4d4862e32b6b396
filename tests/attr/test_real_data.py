"""Integration on real chest X-rays (NIH CXR14 box subset), when ../shared/data is present:
images -> attributions (Occlusion, RISE) -> pointing game against the radiologists' boxes ->
hit rate by sex. The model is a small untrained CNN (no weights can be downloaded), so the test
checks the pipeline's contracts on real inputs, not the quality of the explanations."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import fastxai.eval as fe
from fastxai.attr import RISE, Occlusion

ROOT = os.path.join(
    os.environ.get("FASTXAI_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")),
    "nih_cxr14_bbox",
)
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "annotations.csv")), reason="data absent")


def _load(n: int):
    ann = pd.read_csv(os.path.join(ROOT, "annotations.csv"))
    first = ann.groupby("image").head(1).head(n)
    imgs = [np.asarray(Image.open(os.path.join(ROOT, p)).convert("L"), dtype=np.float32) / 255 for p in first["image"]]
    x = torch.from_numpy(np.stack(imgs))[:, None]  # (N, 1, 256, 256)
    boxes = [torch.tensor(ann[ann["image"] == p][["x0", "y0", "x1", "y1"]].to_numpy(float)) for p in first["image"]]
    return x, boxes, first["sex"].to_numpy()


def test_occlusion_and_rise_on_real_xrays_feed_the_evaluator() -> None:
    x, boxes, sex = _load(6)
    x = torch.nn.functional.avg_pool2d(x, 4)  # 64x64 keeps the test fast
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(64, 2)).eval()
    occ = Occlusion(model).attribute(x, sliding_window_shapes=(1, 16, 16), strides=(1, 8, 8), target=1)
    rise = RISE(model).attribute(x, target=1, n_masks=64, grid_size=4, seed=0)
    for attr in (occ, rise):
        assert attr.shape == x.shape and bool(torch.isfinite(attr).all())
        hits = fe.pointing_game(attr[:, 0], boxes, image_size=(256, 256), variant="saporta")
        assert hits.shape == (6,) and set(hits.unique().tolist()) <= {0.0, 1.0}
        rep = fe.scores_by_group(hits, sensitive_features=sex, name="hit_rate")
        ref = pd.Series(hits.numpy()).groupby(sex).mean()
        np.testing.assert_allclose(rep.by_group["hit_rate"].numpy(), ref.to_numpy(), atol=1e-12)
