"""Box rasterisation convention: half-open, pixel-centre rule, clipped, union, errors."""
from __future__ import annotations

import pytest
import torch

from fastxai.eval.boxes import boxes_to_mask
from fastxai.eval.errors import InputError


def test_integer_box_equals_slicing() -> None:
    m = boxes_to_mask(torch.tensor([[2, 3, 7, 9]]), (10, 12))
    ref = torch.zeros(1, 10, 12, dtype=torch.bool)
    ref[0, 3:9, 2:7] = True
    assert torch.equal(m, ref)


def test_continuous_coords_pixel_centre_rule() -> None:
    # x in [1.4, 3.6): centres 1.5, 2.5 and 3.5 inside -> columns 1..3; y in [0.6, 1.5): centre 1.5 excluded
    m = boxes_to_mask(torch.tensor([[1.4, 0.6, 3.6, 1.5]]), (4, 6))
    ref = torch.zeros(1, 4, 6, dtype=torch.bool)
    ref[0, 1:1, 1:4] = True  # y range: ceil(0.1)=1 .. ceil(1.0)=1 -> empty
    assert torch.equal(m, ref)
    m = boxes_to_mask(torch.tensor([[1.4, 0.4, 3.6, 1.6]]), (4, 6))
    ref[0, 0:2, 1:4] = True
    assert torch.equal(m, ref)


def test_clipping_union_padding_and_lists() -> None:
    boxes = torch.tensor([[[-3, -2, 2, 2], [8, 5, 20, 20]], [[0, 0, 0, 0], [1, 1, 3, 3]]], dtype=torch.float64)
    m = boxes_to_mask(boxes, (8, 10))
    ref = torch.zeros(2, 8, 10, dtype=torch.bool)
    ref[0, 0:2, 0:2] = True
    ref[0, 5:8, 8:10] = True
    ref[1, 1:3, 1:3] = True
    assert torch.equal(m, ref)
    ragged = [torch.tensor([[-3, -2, 2, 2], [8, 5, 20, 20]]), torch.tensor([[1, 1, 3, 3]])]
    assert torch.equal(boxes_to_mask(ragged, (8, 10)), ref)


def test_errors_name_argument_and_sample() -> None:
    with pytest.raises(InputError, match=r"x1 < x0.*\[1\]"):
        boxes_to_mask(torch.tensor([[0, 0, 2, 2], [5, 0, 3, 2]]), (8, 8))
    with pytest.raises(InputError, match=r"outside the image.*\[0\]"):
        boxes_to_mask(torch.tensor([[9, 0, 12, 2]]), (8, 8))
    with pytest.raises(InputError, match="non-finite"):
        boxes_to_mask(torch.tensor([[float("nan"), 0, 2, 2]]), (8, 8))
    with pytest.raises(InputError, match="boxes must be"):
        boxes_to_mask(torch.zeros(2, 5), (8, 8))


def test_boxes_beyond_the_frame_warn_with_their_number_and_int_image_size() -> None:
    """256-pixel boxes with 128-pixel maps and no image_size: clipped (most score ~0), so a warning gives
    the number of boxes extending beyond the map; image_size=256 (an int) resizes the maps instead."""
    import warnings

    import fastxai.eval as fe
    from fastxai.eval.boxes import BoxClippedWarning

    maps = torch.zeros(3, 128, 128)
    boxes = torch.tensor([[100.0, 120.0, 200.0, 230.0], [10.0, 10.0, 60.0, 60.0], [100.0, 20.0, 180.0, 90.0]])
    for b in range(3):  # the peak inside each box, in the 256-pixel frame
        x, y = int(boxes[b, 0] + boxes[b, 2]) // 4, int(boxes[b, 1] + boxes[b, 3]) // 4
        maps[b, y, x] = 1.0
    with pytest.warns(BoxClippedWarning, match=r"2 of 3 boxes extend beyond the annotation frame of size \(128, 128\)"):
        fe.pointing_game(maps, boxes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoxClippedWarning)
        hits = fe.pointing_game(maps, boxes, image_size=256, variant="saporta")
        assert torch.equal(hits, fe.pointing_game(maps, boxes, image_size=(256, 256), variant="saporta"))
    assert hits.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(InputError, match="image_size"):
        fe.pointing_game(maps, boxes, image_size=0)
    with pytest.raises(InputError, match="image_size"):
        fe.pointing_game(maps, boxes, image_size=(256,))
