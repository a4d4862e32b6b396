"""Batched Otsu (cheXlocalize binarisation) vs an exact brute force of OpenCV's rule, scikit-image's
``threshold_otsu``, OpenCV itself (``cv2.threshold(..., THRESH_OTSU)`` + filled external contours)
and the cheXlocalize IoU protocol re-implemented per map."""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastxai.eval.otsu as O
from fastxai.eval.boxes import boxes_to_mask
from fastxai.eval.errors import InputError
from fastxai.eval.inputs import EmptyAnnotationWarning

ndimage = pytest.importorskip("scipy.ndimage")
skf = pytest.importorskip("skimage.filters")


def _brute_otsu(img: np.ndarray) -> int:
    """OpenCV's rule exactly (rational arithmetic): t maximising q1 q2 (mu1 - mu2)^2 of {<= t} vs {> t}
    over levels splitting the image, first maximum with strict '>' from 0, else 0."""
    v = img.reshape(-1).astype(np.int64)
    n, best, best_t = v.size, Fraction(0), 0
    hist = np.bincount(v, minlength=256)
    n1 = s1 = 0
    total = int(v.sum())
    for t in range(256):
        n1 += int(hist[t])
        s1 += t * int(hist[t])
        if n1 == 0 or n1 == n:
            continue
        mu1, mu2 = Fraction(s1, n1), Fraction(total - s1, n - n1)
        sigma = Fraction(n1, n) * Fraction(n - n1, n) * (mu1 - mu2) ** 2
        if sigma > best:
            best, best_t = sigma, t
    return best_t


def _uint8_images() -> np.ndarray:
    g = np.random.default_rng(0)
    lo = torch.rand(12, 1, 5, 6, generator=torch.Generator().manual_seed(0))
    smooth = F.interpolate(lo, size=(24, 20), mode="bilinear", align_corners=False)[:, 0].numpy()
    imgs = [np.uint8(255 * (s - s.min()) / (s - s.min()).max()) for s in smooth]
    imgs.append(g.integers(0, 256, (24, 20)).astype(np.uint8))  # noise
    gaps = g.choice([0, 10, 11, 200, 255], (24, 20)).astype(np.uint8)  # runs of empty levels
    imgs.append(gaps)
    two = np.zeros((24, 20), np.uint8)
    two[:5] = 255
    imgs.append(two)  # two levels
    skew = g.integers(0, 30, (24, 20)).astype(np.uint8)
    skew[0, :3] = 250  # tiny bright class
    imgs.append(skew)
    return np.stack(imgs)


def test_threshold_equals_brute_force_of_opencv_rule_and_skimage() -> None:
    imgs = _uint8_images()
    t = O.otsu_threshold(torch.from_numpy(imgs))
    assert t.dtype == torch.int64 and t.shape == (len(imgs),)
    for i, img in enumerate(imgs):
        assert int(t[i]) == _brute_otsu(img), i
        ts = skf.threshold_otsu(img)  # same rule and convention (foreground = image > t)
        np.testing.assert_array_equal(img > int(t[i]), img > ts, err_msg=str(i))


def test_threshold_and_masks_equal_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    imgs = _uint8_images()
    t = O.otsu_threshold(torch.from_numpy(imgs))
    masks = O.otsu_masks(torch.from_numpy(imgs), fill_holes=True).numpy()
    for i, img in enumerate(imgs):
        tc, seg = cv2.threshold(img, 0, int(img.max()), cv2.THRESH_OTSU)  # cheXlocalize's call
        np.testing.assert_array_equal(seg > 0, img > int(t[i]))
        if int(tc) != int(t[i]):  # only possible inside a run of empty levels: same mask
            lo, hi = sorted((int(tc), int(t[i])))
            assert not ((img > lo) & (img <= hi)).any()
        contours, _ = cv2.findContours((seg > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        filled = np.zeros(img.shape, np.uint8)
        cv2.drawContours(filled, contours, -1, 1, thickness=-1)
        np.testing.assert_array_equal(masks[i], filled.astype(bool), err_msg=str(i))


def test_uint8_levels_follow_chexlocalize_and_constant_maps_are_empty() -> None:
    g = torch.Generator().manual_seed(1)
    h = torch.randn(4, 9, 11, generator=g)
    h[2] = 0.7  # constant: cheXlocalize divides 0 by 0 -> NaN -> uint8 0 -> empty segmentation
    u8 = O.uint8_levels(h)
    for i in (0, 1, 3):
        m = h[i] - h[i].min()
        ref = np.uint8((255 * m.div(m.max())).numpy())
        np.testing.assert_array_equal(u8[i].numpy(), ref)
    assert int(u8[2].max()) == 0
    assert not O.otsu_masks(h)[2].any()
    assert int(u8.amax()) == 255


def test_volumes_and_batch_independence() -> None:
    g = torch.Generator().manual_seed(2)
    lo = torch.rand(3, 1, 3, 4, 4, generator=g)
    vol = F.interpolate(lo, size=(6, 10, 9), mode="trilinear", align_corners=False)[:, 0]
    t = O.otsu_threshold(vol)
    u8 = O.uint8_levels(vol).numpy()
    masks = O.otsu_masks(vol).numpy()
    for i in range(3):
        assert int(t[i]) == _brute_otsu(u8[i])
        np.testing.assert_array_equal(masks[i], ndimage.binary_fill_holes(u8[i] > int(t[i])))
        assert int(O.otsu_threshold(vol[i:i + 1])[0]) == int(t[i])


def test_hole_filling_is_per_map_with_8_connected_foreground() -> None:
    h = torch.zeros(2, 7, 7)
    h[0, 1:6, 1:6] = 1.0
    h[0, 3, 3] = 0.0  # a hole
    h[1, 1:4, 1:4] = 1.0
    h[1, 2, 2] = 0.0  # hole ...
    h[1, 4, 4] = 1.0  # ... and a diagonal neighbour: 8-connected foreground, so (2, 2) is still enclosed
    m = O.otsu_masks(h)
    assert bool(m[0, 3, 3]) and int(m[0].sum()) == 25
    assert bool(m[1, 2, 2]) and int(m[1].sum()) == 10
    assert not bool(O.otsu_masks(h, fill_holes=False)[0, 3, 3])
    edge = torch.zeros(1, 5, 5)
    edge[0, :, 1:4] = 1.0
    edge[0, 2, 2] = 0.0
    edge[0, 0, 2] = 0.0  # open to the border: not a hole
    em = O.otsu_masks(edge)
    assert bool(em[0, 2, 2]) and not bool(em[0, 0, 2])


def _chexlocalize_iou(lowres: torch.Tensor, gt: np.ndarray, true_pos_only: bool) -> float:
    """cheXlocalize per map: bilinear upsampling, min-max, uint8, Otsu (brute force), hole fill, IoU."""
    up = F.interpolate(lowres[None, None], size=gt.shape, mode="bilinear", align_corners=False)[0, 0]
    m = up - up.min()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u8 = np.nan_to_num((255 * m.div(m.max())).numpy(), nan=0.0).astype(np.uint8)
    pred = ndimage.binary_fill_holes(u8 > _brute_otsu(u8)) if u8.max() > 0 else np.zeros(gt.shape, bool)
    inter, union = (pred & gt).sum(), (pred | gt).sum()
    if true_pos_only and (pred.sum() == 0 or gt.sum() == 0):
        return float("nan")
    return float("nan") if union == 0 else inter / union


@pytest.mark.parametrize("true_pos_only", [True, False])
def test_saporta_iou_otsu_matches_chexlocalize(true_pos_only) -> None:
    g = torch.Generator().manual_seed(3)
    h = torch.rand(6, 7, 7, generator=g)
    h[1] = 0.25  # constant -> empty prediction
    boxes = torch.tensor([[2, 3, 20, 18], [0, 0, 10, 10], [5, 5, 31, 30], [8, 2, 16, 28], [0, 0, 0, 0],
                          [10, 10, 30, 14]], dtype=torch.float64)
    gt = boxes_to_mask(boxes, (32, 32)).numpy()
    with pytest.warns(EmptyAnnotationWarning):
        got = O.saporta_iou_otsu(h, boxes, image_size=(32, 32), true_pos_only=true_pos_only)
    ref = [_chexlocalize_iou(h[i], gt[i], true_pos_only) for i in range(6)]
    np.testing.assert_allclose(got.numpy(), np.array(ref), atol=1e-12, equal_nan=True)
    assert np.isnan(got[4]) == true_pos_only  # empty annotation: NaN, or 0 for a non-empty prediction
    assert np.isnan(got[1]) == true_pos_only  # empty prediction: NaN (true_pos_only) or 0
    masks = torch.from_numpy(gt)
    with pytest.warns(EmptyAnnotationWarning):
        np.testing.assert_allclose(O.saporta_iou_otsu(h, masks=masks, true_pos_only=true_pos_only).numpy(),
                                   got.numpy(), equal_nan=True)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="heatmaps must be"):
        O.otsu_threshold(torch.rand(4, 5))
    h = torch.rand(3, 4, 4)
    h[2, 1, 1] = float("nan")
    with pytest.raises(InputError, match=r"heatmaps contains NaN or Inf in samples \[2\]"):
        O.otsu_masks(h)
    with pytest.raises(InputError, match="boxes= and/or masks="):
        O.saporta_iou_otsu(torch.rand(2, 4, 4))


def test_saporta_iou_threshold_otsu_is_the_otsu_protocol():
    from fastxai.eval import MeanIoU, saporta_iou

    g = torch.Generator().manual_seed(3)
    h = torch.rand(5, 16, 16, generator=g) ** 3
    masks = torch.zeros(5, 16, 16, dtype=torch.bool)
    masks[:, 4:12, 3:9] = True
    got = saporta_iou(h, masks=masks, threshold="otsu")
    want = O.saporta_iou_otsu(h, masks=masks)
    assert torch.equal(torch.nan_to_num(got, -1.0), torch.nan_to_num(want, -1.0))
    assert not torch.equal(got, saporta_iou(h, masks=masks, threshold=0.5))  # a different protocol
    m = MeanIoU(threshold="otsu")
    m.update(h[:2], masks=masks[:2])
    m.update(h[2:], masks=masks[2:])
    assert torch.isclose(m.compute().double(), want[~want.isnan()].mean(), atol=1e-12)
    with pytest.raises(InputError, match="threshold"):
        saporta_iou(h, masks=masks, threshold="triangle")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uint8_levels_of_maps_whose_range_overflows_the_dtype(dtype) -> None:
    """Maps spanning ±max: (h - min) would overflow to inf; they are halved (exact), giving the levels
    of the same maps scaled down by a power of two."""
    big = torch.finfo(dtype).max
    g = torch.Generator().manual_seed(3)
    h = (big * (torch.rand(3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1)).to(dtype)
    h[2] = h[2] * 1e-30  # an ordinary map in the same batch is left as it is
    small = h * 2.0 ** -60
    small[2] = h[2]
    assert torch.equal(O.uint8_levels(h), O.uint8_levels(small))
    assert int(O.uint8_levels(h)[0].max()) == 255
