"""IoU / Dice at thresholds and top-k%, and the cheXlocalize (Saporta 2022) threshold protocol."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fastxai.eval.overlap as O
from fastxai.eval.boxes import boxes_to_mask
from tests.eval.metric_tester import check_batching


def _chexlocalize_iou(h: np.ndarray, gt: np.ndarray, thr: float, true_pos_only: bool) -> float:
    """cheXlocalize: min-max normalise, binarise with h > thr, IoU (NaN rules by true_pos_only)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        hn = (h - h.min()) / (h - h.min()).max()
    pred = hn > thr  # NaN (constant map) -> False
    inter, union = np.logical_and(pred, gt).sum(), np.logical_or(pred, gt).sum()
    if true_pos_only and (pred.sum() == 0 or gt.sum() == 0):
        return float("nan")
    return float("nan") if union == 0 else inter / union


def _case():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(8, 12, 10, generator=g)
    h[1] = 0.3  # constant map -> empty prediction
    h[2] = -h[2]
    m = torch.zeros(8, 12, 10, dtype=torch.bool)
    for i in range(8):
        m[i, i:i + 4, 2:7] = True
    m[5] = False  # empty annotation
    return h, m


@pytest.mark.parametrize("true_pos_only", [False, True])
def test_saporta_iou_matches_chexlocalize_formula(true_pos_only) -> None:
    h, m = _case()
    for thr in (0.2, 0.5, 0.7):
        got = O.saporta_iou(h, masks=m, threshold=thr, true_pos_only=true_pos_only)
        ref = [_chexlocalize_iou(h[i].numpy().astype(np.float64), m[i].numpy(), thr, true_pos_only) for i in range(8)]
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-12, equal_nan=True)


def test_thresholds_columns_and_dice() -> None:
    h, m = _case()
    th = (0.3, 0.6)
    iou = O.overlap_at_thresholds(h, masks=m, thresholds=th)
    dice = O.overlap_at_thresholds(h, masks=m, thresholds=th, measure="dice")
    assert iou.shape == (8, 2)
    ok = ~torch.isnan(iou)
    torch.testing.assert_close(dice[ok], (2 * iou / (1 + iou))[ok])  # Dice = 2 IoU / (1 + IoU)
    assert (iou[1] == 0).all()  # constant map -> empty prediction -> IoU 0 against a non-empty mask
    assert iou[5, 0] == 0.0  # prediction on an empty annotation scores 0 (true_pos_only=False)


def test_top_k_percent_selects_ceil_and_tie_rule() -> None:
    h = torch.zeros(1, 4, 5)
    h[0, 0, 0] = 2.0
    m = torch.zeros(1, 4, 5, dtype=torch.bool)
    m[0, 0, :2] = True
    # 10% of 20 pixels = 2: pixel (0,0) plus the first tied zero (0,1) -> IoU 1
    assert O.overlap_at_top_k(h, masks=m, percents=(10,))[0, 0] == 1.0
    k = math.ceil(0.15 * 20)  # 3 pixels: (0,0),(0,1),(0,2) -> inter 2, union 3
    assert O.overlap_at_top_k(h, masks=m, percents=(15,))[0, 0] == pytest.approx(2 / k)


def test_streaming() -> None:
    h, m = _case()
    ref = check_batching(lambda: O.OverlapAtThresholds((0.2, 0.5)), {"heatmaps": h, "masks": m}, n=8)
    full = O.overlap_at_thresholds(h, masks=m, thresholds=(0.2, 0.5))
    torch.testing.assert_close(ref, torch.nanmean(full, 0))
    check_batching(lambda: O.OverlapAtTopK((5, 20)), {"heatmaps": h, "masks": m}, n=8)
    check_batching(lambda: O.MeanIoU(0.5), {"heatmaps": h, "masks": m}, n=8)


def _loop_overlap(h, m, thresholds, normalise, strict, measure, true_pos_only):
    """The per-threshold loop (one ``h > t`` mask each) that the fused kernel replaces."""
    h = h.reshape(h.shape[0], -1)
    m = m.reshape(m.shape[0], -1)
    if normalise == "minmax":
        h = O.minmax_normalise(h.to(torch.float64))
    cols = []
    for t in thresholds:
        pred = h > t if strict else h >= t
        inter, sp, sm = [x.sum(1).to(torch.float64) for x in (pred & m, pred, m)]
        cols.append(O._score_counts(inter, sp, sm, measure, true_pos_only))
    return torch.stack(cols, 1)


@pytest.mark.parametrize("normalise,strict", [("minmax", True), ("minmax", False), ("none", True), ("none", False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_thresholds_fused_equal_per_threshold_loop(normalise, strict, dtype) -> None:
    """Masks path and boxes-as-ranges path (2D and volumes) give the loop's scores exactly,
    for many thresholds including ties exactly at a threshold, constant maps and empty annotations."""
    h, m = _case()
    h = h.to(dtype)
    th = [i / 8 for i in range(-2, 11)] + [0.3, 0.05]
    for measure, tpo in [("iou", False), ("dice", True)]:
        got = O.overlap_at_thresholds(h, masks=m, thresholds=th, normalise=normalise, strict=strict,
                                      measure=measure, true_pos_only=tpo)
        ref = _loop_overlap(h, m, th, normalise, strict, measure, tpo)
        torch.testing.assert_close(got, ref, rtol=0, atol=0, equal_nan=True)
    g = torch.Generator().manual_seed(1)
    for spatial in [(12, 10), (4, 6, 5)]:
        vol = torch.randint(0, 8, (5, *spatial), generator=g).to(dtype) / 4
        vol[1] = 0.5
        nd = len(spatial)
        lo = torch.rand(5, 2, nd, generator=g) * torch.tensor(list(reversed(spatial)))
        boxes = torch.cat([lo, lo + 1 + 3 * torch.rand(5, 2, nd, generator=g)], -1).double()
        boxes[2] = 0  # no box: empty annotation
        kw = {"image_size": spatial} if nd == 3 else {}
        with pytest.warns(UserWarning, match="empty annotation"):
            got = O.overlap_at_thresholds(vol, boxes=boxes, thresholds=th, normalise=normalise, strict=strict, **kw)
        ref = _loop_overlap(vol, boxes_to_mask(boxes, spatial), th, normalise, strict, "iou", False)
        torch.testing.assert_close(got, ref, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("backend", ["cpp", "torch"])
def test_minmax_iou_of_float64_maps_near_the_maximum(backend) -> None:
    """(h - min) / max(h - min) of maps spanning ±max(float64) overflows; halving (exact) gives the same
    decisions as the maps scaled down by a power of two, on every backend."""
    from fastxai import use_backend

    big = torch.finfo(torch.float64).max
    g = torch.Generator().manual_seed(6)
    h = big * (torch.rand(3, 12, 12, generator=g, dtype=torch.float64) * 2 - 1)
    masks = torch.rand(3, 12, 12, generator=g) > 0.5
    th = [0.1, 0.5, 0.9]
    with use_backend(backend):
        got = O.overlap_at_thresholds(h, masks=masks, thresholds=th)
        want = O.overlap_at_thresholds(h * 2.0 ** -100, masks=masks, thresholds=th)
    assert bool(torch.isfinite(got).all())
    assert torch.equal(got, want)
    assert torch.equal(O.minmax_normalise(h.reshape(3, -1)), O.minmax_normalise(h.reshape(3, -1) * 2.0 ** -100))
