"""Image files -> model-input tensors: PNG / JPEG (Pillow), DICOM (pydicom), NIfTI (nibabel).

Only pixel data and the few header fields needed to display it (photometric interpretation,
rescale slope / intercept, VOI LUT / window, bits stored) are read from DICOM files; no header
field is returned, so identifying fields (names, dates, ids) never reach results.
"""
from __future__ import annotations

import os
from typing import Sequence, Tuple

import numpy as np
import torch

DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _kind(path: str) -> str:
    low = path.lower()
    if low.endswith(DICOM_SUFFIXES):
        return "dicom"
    if low.endswith(NIFTI_SUFFIXES):
        return "nifti"
    return "pil"


def image_size(path: str) -> Tuple[int, int]:
    """(H, W) of the stored image from its header (no pixel decoding). Raises on unreadable files."""
    kind = _kind(path)
    if kind == "dicom":
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return int(ds.Rows), int(ds.Columns)
    if kind == "nifti":
        import nibabel

        shape = nibabel.load(path).shape
        return int(shape[1]), int(shape[0])
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return h, w


def _pil_array(path: str, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float32)
            hi = 65535.0 if arr.max(initial=0) > 255 else 255.0
            arr = arr / hi
            return np.repeat(arr[..., None], channels, -1) if channels == 3 else arr[..., None]
        im = im.convert("RGB" if channels == 3 else "L")
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr if arr.ndim == 3 else arr[..., None]


def apply_window(arr: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM linear window (PS3.3 C.11.2.1.2, the usual ``center - width/2 .. + width/2``) to [0, 1]."""
    lo = center - width / 2.0
    return np.clip((arr - lo) / max(width, 1e-6), 0.0, 1.0)


def _dicom_array(path: str, window, invert_monochrome1: bool) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float64)
    if arr.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        arr = arr[arr.shape[0] // 2]  # a multi-frame file: the middle frame
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    arr = arr * slope + intercept
    if isinstance(window, (tuple, list)):
        out = apply_window(arr, float(window[0]), float(window[1]))
    elif window == "voi_lut" or (window == "auto" and "VOILUTSequence" in ds):
        from pydicom.pixels import apply_voi_lut

        lut = apply_voi_lut(ds.pixel_array, ds).astype(np.float64)
        lo, hi = float(lut.min()), float(lut.max())
        out = (lut - lo) / (hi - lo) if hi > lo else np.zeros_like(lut)
    elif window == "auto" and "WindowCenter" in ds and "WindowWidth" in ds:
        c, w = ds.WindowCenter, ds.WindowWidth
        c = float(c[0] if isinstance(c, pydicom.multival.MultiValue) else c)
        w = float(w[0] if isinstance(w, pydicom.multival.MultiValue) else w)
        out = apply_window(arr, c, w)
    else:
        lo, hi = float(arr.min()), float(arr.max())
        out = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if invert_monochrome1 and str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 1.0 - out
    return out.astype(np.float32)[..., None]


def _nifti_array(path: str) -> np.ndarray:
    import nibabel

    arr = np.asarray(nibabel.load(path).get_fdata(), dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[:, :, arr.shape[2] // 2]  # the middle axial slice
    arr = arr.T  # NIfTI stores (x, y): rows are y
    lo, hi = float(arr.min()), float(arr.max())
    return ((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)).astype(np.float32)[..., None]


def read_image(path: str, size: Tuple[int, int], channels: int, mean: Sequence[float], std: Sequence[float],
               window="auto", invert_monochrome1: bool = True) -> torch.Tensor:
    """Decode ``path`` -> (C, H, W) float32: scaled to [0, 1], resized (bilinear, antialiased), then
    ``(x - mean) / std`` per channel. Raises on a missing or corrupt file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    kind = _kind(path)
    if kind == "dicom":
        arr = _dicom_array(path, window, invert_monochrome1)
    elif kind == "nifti":
        arr = _nifti_array(path)
    else:
        arr = _pil_array(path, channels)
    if arr.shape[-1] != channels:
        arr = np.repeat(arr[..., :1], channels, -1) if channels == 3 else arr.mean(-1, keepdims=True)
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if tuple(x.shape[1:]) != tuple(size):
        x = torch.nn.functional.interpolate(x[None], size=tuple(size), mode="bilinear", align_corners=False,
                                            antialias=True)[0]
    m = torch.tensor(list(mean) * (channels if len(mean) == 1 else 1), dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(list(std) * (channels if len(std) == 1 else 1), dtype=torch.float32).view(-1, 1, 1)
    return ((x - m) / s).contiguous()


def read_mask(path: str, size: Tuple[int, int]) -> torch.Tensor:
    """A binary mask image -> (H, W) bool at the model-input size (nearest neighbour)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("L")) > 0
    t = torch.from_numpy(arr)[None, None].float()
    return torch.nn.functional.interpolate(t, size=tuple(size), mode="nearest")[0, 0] > 0.5
