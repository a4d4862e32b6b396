"""Heat-map overlays on the patients' images, with the annotated boxes and a colour bar.

Two grids per model: methods × (best, worst, random case by the primary localisation metric),
and, per group feature, methods × groups (a random case of each group). Every map is divided by
its own 99th percentile of |a| and clipped to [−1, 1] (sparse gradient maps stay visible; shared
colour bar). Only built when the report includes images.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastxai.report.figures import plt, to_uri


def pick_cases(scores: np.ndarray, seed: int = 0) -> List[Tuple[str, int]]:
    """(label, index) of the best, worst and a random case among finite scores (first on ties)."""
    ok = np.flatnonzero(np.isfinite(scores))
    if not len(ok):
        return []
    s = scores[ok]
    best, worst = ok[int(np.argmax(s))], ok[int(np.argmin(s))]
    rnd = ok[int(np.random.default_rng(seed).integers(len(ok)))]
    return [("best", int(best)), ("worst", int(worst)), ("random", int(rnd))]


def _fit(m: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Resize a (h, w) map to shape (bilinear) when the method's maps are coarser than the image."""
    if m.shape == shape:
        return m
    from scipy.ndimage import zoom

    return zoom(m, (shape[0] / m.shape[0], shape[1] / m.shape[1]), order=1)


def _panel(ax: Any, image: np.ndarray, heat: Optional[np.ndarray], boxes: Sequence[Sequence[float]], title: str):
    img = image.mean(0) if image.ndim == 3 else image
    ax.imshow(img, cmap="gray", interpolation="nearest")
    im = None
    if heat is not None:
        h = _fit(heat, img.shape)
        scale = float(np.nanpercentile(np.abs(h), 99)) if np.isfinite(h).any() else 0.0
        scale = scale if scale > 0 else float(np.nanmax(np.abs(h))) if np.isfinite(h).any() else 0.0
        h = np.clip(h / scale, -1, 1) if scale > 0 else np.zeros_like(h)
        im = ax.imshow(h, cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.55, interpolation="bilinear")
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in boxes:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="#00ff66", lw=1.2))
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def grid(images: Dict[int, np.ndarray], maps: Dict[str, Dict[int, np.ndarray]],
         cells: Dict[str, List[Tuple[str, int]]], boxes: Dict[int, List[Sequence[float]]],
         columns: List[str]) -> Optional[str]:
    """Rows = methods, columns = case labels; cells[method] = [(column label, unit index), ...];
    images[u] (C, H, W) and maps[method][u] (h, w) for every unit shown."""
    rows = [m for m in cells if cells[m]]
    if not rows:
        return None
    p = plt()
    fig, axes = p.subplots(len(rows), len(columns), figsize=(1.55 * len(columns) + 1.0, 1.6 * len(rows)),
                           squeeze=False)
    im = None
    for r, meth in enumerate(rows):
        got = dict(cells[meth])
        for c, col in enumerate(columns):
            ax = axes[r][c]
            i = got.get(col)
            if i is None or i not in maps[meth] or i not in images:
                ax.axis("off")
                continue
            out = _panel(ax, images[i], maps[meth][i], boxes.get(i, []), "")
            im = out if out is not None else im
        axes[r][0].set_ylabel(meth, fontsize=8, rotation=0, ha="right", va="center")
    for c, col in enumerate(columns):  # column labels once, on top (shown even over an empty cell)
        axes[0][c].set_title(col, fontsize=8)
    if im is not None:
        cb = fig.colorbar(im, ax=axes, fraction=0.025, pad=0.02)
        cb.set_label("attribution ÷ its 99th-percentile |value| (per map, clipped)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    return to_uri(fig, dpi=100)


def box_lookup(boxes_df: Any, units: Sequence[Tuple[Any, Any]]) -> Dict[int, List[Tuple[float, float, float, float]]]:
    """unit index -> its boxes (x0, y0, x1, y1): the boxes of the unit's sample, of its class when the
    unit has one and the table names findings."""
    pos: Dict[Any, List[int]] = {}
    for i, (sid, _) in enumerate(units):
        pos.setdefault(sid, []).append(i)
    has_finding = "finding" in getattr(boxes_df, "columns", [])
    out: Dict[int, List[Tuple[float, float, float, float]]] = {}
    for r in boxes_df.itertuples(index=False):
        for i in pos.get(getattr(r, "sample_id"), []):
            target = units[i][1]
            if target is None or not has_finding or str(r.finding) == str(target):
                out.setdefault(i, []).append((float(r.x0), float(r.y0), float(r.x1), float(r.y1)))
    return out


def group_cells(methods: Sequence[str], scores: Dict[str, np.ndarray], groups: np.ndarray,
                seed: int = 0) -> Tuple[Dict[str, List[Tuple[str, int]]], List[str]]:
    """A random scored case of each group, per method (same seed per group across methods)."""
    names = sorted({str(g) for g in groups if g is not None})
    cells: Dict[str, List[Tuple[str, int]]] = {}
    for meth in methods:
        s = scores.get(meth)
        cells[meth] = []
        for k, g in enumerate(names):
            idx = np.flatnonzero(np.array([v is not None and str(v) == g for v in groups]))
            if s is not None:
                fin = idx[np.isfinite(s[idx])]
                idx = fin if len(fin) else idx
            if len(idx):
                cells[meth].append((g, int(idx[np.random.default_rng(seed + k).integers(len(idx))])))
    return cells, names
