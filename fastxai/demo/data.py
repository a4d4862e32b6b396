"""Synthetic images with a known answer: a bright blob (the "lesion") on a noisy background.

Class 1 images contain the blob, class 0 do not, so a correct explanation of a class-1
prediction puts its mass on the blob, whose box is returned for scoring.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


def make_images(n: int, size: int = 32, seed: int = 0) -> Tuple[Tensor, Tensor, Tensor]:
    """Returns images (n, 1, size, size) float32, labels (n,) int64 and boxes (n, 4) as
    (x0, y0, x1, y1) half-open pixel boxes of the blob (zeros for class 0)."""
    g = torch.Generator().manual_seed(seed)
    images = 0.3 * torch.rand((n, 1, size, size), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    boxes = torch.zeros((n, 4), dtype=torch.int64)
    side = size // 4
    for i in range(n):
        if labels[i] == 1:
            x0, y0 = (int(v) for v in torch.randint(0, size - side, (2,), generator=g))
            images[i, 0, y0 : y0 + side, x0 : x0 + side] += 0.7
            boxes[i] = torch.tensor([x0, y0, x0 + side, y0 + side])
    return images.clamp_(0, 1), labels, boxes
