"""Optional: NIH CXR14 boxes (880 images) -> localisation scores -> gap by sex. Skips when absent."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import fastxai.eval as fe

# ../shared/data beside the checkout (as on the CI machine), or FASTXAI_DATA
ROOT = os.path.join(
    os.environ.get("FASTXAI_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")),
    "nih_cxr14_bbox",
)
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "annotations.csv")), reason="data absent")


def test_pointing_game_gap_by_sex_matches_pandas() -> None:
    ann = pd.read_csv(os.path.join(ROOT, "annotations.csv"))
    ann = ann[ann["label"] == 1].dropna(subset=["x0", "y0", "x1", "y1"])
    per_image = ann.groupby("image")
    images = list(per_image.groups)[:300]
    boxes = [torch.tensor(per_image.get_group(i)[["x0", "y0", "x1", "y1"]].to_numpy(float)) for i in images]
    sex = [per_image.get_group(i)["sex"].iloc[0] for i in images]
    g = torch.Generator().manual_seed(0)
    # synthetic 32x32 heat maps with a blob near each first box centre (upsampled to 256x256)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    maps = []
    for b in boxes:
        cx, cy = float(b[0, 0] + b[0, 2]) / 16, float(b[0, 1] + b[0, 3]) / 16
        cx, cy = cx + float(torch.randn(1, generator=g)) * 4, cy + float(torch.randn(1, generator=g)) * 4
        maps.append(torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8))
    h = torch.stack(maps)
    hits = fe.pointing_game(h, boxes, image_size=(256, 256), variant="saporta")
    mask = fe.boxes_to_mask(boxes, (256, 256))
    up = torch.nn.functional.interpolate(h[:, None], size=(256, 256), mode="bilinear", align_corners=False)[:, 0]
    ref_hits = mask.reshape(len(images), -1).gather(1, up.reshape(len(images), -1).argmax(1, keepdim=True))[:, 0]
    assert torch.equal(hits, ref_hits.double())
    rep = fe.scores_by_group(hits, sensitive_features=np.array(sex), name="hit_rate", n_boot=20,
                             ci_quantiles=[0.05, 0.95], random_state=0)
    ref = pd.Series(hits.numpy()).groupby(np.array(sex)).mean()
    np.testing.assert_allclose(rep.by_group["hit_rate"].numpy(), ref.to_numpy(), atol=1e-12)
    lo, hi = rep.difference_ci()["hit_rate"]
    assert lo <= rep.difference()["hit_rate"] <= hi or np.isnan(lo)
