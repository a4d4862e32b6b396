"""Superpixel feature masks from scikit-image, ready for the sampling methods' ``feature_mask``."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from fastxai._captum.errors import InputError

_METHODS = ("slic", "quickshift", "felzenszwalb")


def superpixel_mask(images: Tensor, method: str = "slic", n_segments: int = 64, **kwargs: Any) -> Tensor:
    """Per-image superpixel ids, (N, 1, H, W) int64, numbered from 0 in every image.

    Args:
        images: (N, C, H, W) or (C, H, W) float tensor (any range; rescaled to [0, 1] per image).
        method: ``"slic"`` (``n_segments``, ``compactness=10``), ``"quickshift"``
            (``kernel_size``, ``max_dist``, ``ratio``; needs 3 channels) or
            ``"felzenszwalb"`` (``scale``, ``sigma``, ``min_size``).
        n_segments: SLIC's target number of segments (ignored by the other methods).
        kwargs: passed to the scikit-image function.
    Returns:
        (N, 1, H, W) int64 on the images' device; broadcast over channels as a feature mask.
        Different images may have different numbers of segments; ids are 0..M_n-1 per image.
    """
    try:
        from skimage import segmentation
    except ImportError as exc:  # pragma: no cover
        raise ImportError("superpixel_mask needs scikit-image: pip install scikit-image") from exc
    if method not in _METHODS:
        raise InputError(f"method must be one of {_METHODS}, got {method!r}")
    if not isinstance(images, Tensor) or images.dim() not in (3, 4):
        raise InputError("images must be a (N, C, H, W) or (C, H, W) tensor")
    batch = images if images.dim() == 4 else images[None]
    out = []
    for img in batch.detach().float().cpu():
        arr = img.permute(1, 2, 0).numpy().astype(np.float64)
        lo, hi = arr.min(), arr.max()
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        channel_axis = -1
        if arr.shape[2] == 1 and method != "quickshift":
            arr, channel_axis = arr[..., 0], None
        if method == "slic":
            kw = {"compactness": 10.0, "start_label": 0, **kwargs}
            lab = segmentation.slic(arr, n_segments=n_segments, channel_axis=channel_axis, **kw)
        elif method == "quickshift":
            if arr.shape[2] != 3:
                raise InputError("quickshift needs 3-channel images")
            kw = {"kernel_size": 3, "max_dist": 6, "ratio": 0.5, **kwargs}
            lab = segmentation.quickshift(arr, **kw)
        else:
            kw = {"scale": 100.0, "sigma": 0.5, "min_size": 20, **kwargs}
            lab = segmentation.felzenszwalb(arr, channel_axis=channel_axis, **kw)
        _, lab = np.unique(lab, return_inverse=True)  # ids 0..M-1, no gaps
        out.append(torch.from_numpy(lab.reshape(arr.shape[:2]).astype(np.int64)))
    return torch.stack(out)[:, None].to(images.device)
