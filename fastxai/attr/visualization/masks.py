"""Drawing helpers for segment masks (Captum's ``draw_mask_border`` / ``draw_mask_legend``),
used by :class:`fastxai.attr.ImageMaskInput.plot_mask_overlay`."""
from __future__ import annotations

from typing import Any

import numpy as np


def erode(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Binary erosion of ``mask`` (H, W) bool by the 4-neighbour cross, outside counted as False,
    ``iterations`` times (until nothing changes when ``iterations < 1``), as
    ``scipy.ndimage.binary_erosion`` with its defaults."""
    out = np.asarray(mask, dtype=bool)
    i = 0
    while iterations < 1 or i < iterations:
        p = np.pad(out, 1, constant_values=False)
        new = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
        if iterations < 1 and np.array_equal(new, out):
            break
        out, i = new, i + 1
    return out


def draw_mask_border(ax: Any, mask: np.ndarray, border_width: int = 1, border_color: Any = "black") -> None:
    """Draw the ``border_width``-pixel inner border of ``mask`` (H, W) bool on ``ax`` in
    ``border_color`` (a colour name or an RGBA array (4,)) as an RGBA image."""
    if not mask.any():
        return
    from matplotlib import colors

    color = np.array(colors.to_rgba(border_color)) if isinstance(border_color, str) else border_color
    border = mask & ~erode(mask, border_width)
    h, w = mask.shape
    ax.imshow(border.reshape(h, w, 1) * np.asarray(color).reshape(1, 1, -1))


def draw_mask_legend(ax: Any, mask: np.ndarray, label: str, fontsize: int = 10, text_color: str = "white",
                     bbox_facecolor: str = "black", bbox_alpha: float = 0.6) -> None:
    """Write ``label`` at the centroid of ``mask`` (H, W) bool on ``ax``, in a rounded box."""
    if not mask.any():
        return
    rows, cols = np.where(mask)
    ax.text(cols.mean(), rows.mean(), label, color=text_color, fontsize=fontsize, ha="center", va="center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": bbox_facecolor, "alpha": bbox_alpha})
