"""Pictures of attributions: Captum's ``visualize_image_attr`` / ``visualize_image_attr_multiple``
(same signatures, same normalisation: channel sum, sign filter, clip at the value holding
``100 - outlier_perc`` % of the cumulative |attribution|), with matplotlib imported only when
they are called, plus :func:`save_overlay_png`, a heat-map overlay written with Pillow alone.

Arrays are numpy (H, W[, C]) as in Captum; torch tensors are accepted too ((C, H, W) is moved
to channels-last).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import numpy as np

METHODS = ("heat_map", "blended_heat_map", "original_image", "masked_image", "alpha_scaling")
SIGNS = ("positive", "absolute_value", "negative", "all")


def _to_hwc(a: Any) -> Optional[np.ndarray]:
    if a is None:
        return None
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
            a = np.transpose(a, (1, 2, 0))
    return np.asarray(a)


def cumulative_sum_threshold(values: np.ndarray, percentile: float) -> float:
    """The smallest value whose cumulative sum (ascending) reaches ``percentile`` % of the total."""
    if not 0 <= percentile <= 100:
        raise ValueError("Percentile for thresholding must be between 0 and 100 inclusive.")
    s = np.sort(values.flatten())
    cums = np.cumsum(s)
    return float(s[np.where(cums >= cums[-1] * 0.01 * percentile)[0][0]])


def normalize_attr(attr: np.ndarray, sign: str = "absolute_value", outlier_perc: float = 2) -> np.ndarray:
    """(H, W[, C]) -> (H, W) in [-1, 1] (or [0, 1]): channel sum, sign filter, outlier clip."""
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    attr = _to_hwc(attr).astype(np.float64)
    if attr.ndim == 3:
        attr = attr.sum(axis=2)
    if sign == "positive":
        attr = np.maximum(attr, 0)
    elif sign == "negative":
        attr = np.minimum(attr, 0)
    elif sign == "absolute_value":
        attr = np.abs(attr)
    thr = cumulative_sum_threshold(np.abs(attr), 100.0 - outlier_perc)
    if sign == "negative":
        thr = -thr
    if thr == 0:
        raise ValueError("Cannot normalize by scale factor = 0 (all attributions are 0)")
    return np.clip(attr / thr, -1, 1)


def _prepare_image(img: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(int), 0, 255)


def create_figure(plt_fig_axis: Optional[Tuple[Any, Any]], use_pyplot: bool, fig_size: Tuple[int, int],
                  **subplots: Any) -> Tuple[Any, Any]:
    """``plt_fig_axis`` when given, else a new (Figure, Axes or array of Axes): through pyplot
    when ``use_pyplot``, else matplotlib's object API (``subplots`` go to ``subplots()``)."""
    if plt_fig_axis is not None:
        return plt_fig_axis
    if use_pyplot:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=fig_size, **subplots)
    from matplotlib.figure import Figure

    fig = Figure(figsize=fig_size)
    return fig, fig.subplots(**subplots)


def visualize_image_attr(
    attr: Any,
    original_image: Any = None,
    method: str = "heat_map",
    sign: str = "absolute_value",
    plt_fig_axis: Optional[Tuple[Any, Any]] = None,
    outlier_perc: Union[int, float] = 2,
    cmap: Any = None,
    alpha_overlay: float = 0.5,
    show_colorbar: bool = False,
    title: Optional[str] = None,
    fig_size: Tuple[int, int] = (6, 6),
    use_pyplot: bool = True,
) -> Tuple[Any, Any]:
    """Draw one attribution (H, W[, C]) -> (Figure, Axes). Methods: heat_map, blended_heat_map,
    original_image, masked_image, alpha_scaling; signs: positive, absolute_value, negative, all."""
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    fig, ax = create_figure(plt_fig_axis, use_pyplot, fig_size)
    img = _to_hwc(original_image)
    if img is not None:
        if np.max(img) <= 1.0:
            img = _prepare_image(img * 255)
    elif method != "heat_map":
        raise ValueError("Original Image must be provided for any visualization other than heatmap.")
    ax.xaxis.set_ticks_position("none")
    ax.yaxis.set_ticks_position("none")
    ax.set_yticklabels([])
    ax.set_xticklabels([])
    ax.grid(visible=False)
    norm = normalize_attr(attr, sign, outlier_perc)
    if sign == "all":
        default_cmap: Any = LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"])
        vmin, vmax = -1, 1
    else:
        default_cmap = {"positive": "Greens", "negative": "Reds", "absolute_value": "Blues"}[sign]
        vmin, vmax = 0, 1
    cmap = cmap if cmap is not None else default_cmap
    heat = None
    if method == "heat_map":
        heat = ax.imshow(norm, cmap=cmap, vmin=vmin, vmax=vmax)
    elif method == "blended_heat_map":
        ax.imshow(np.mean(img, axis=2), cmap="gray")
        heat = ax.imshow(norm, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha_overlay)
    elif method == "original_image":
        ax.imshow(np.squeeze(img, axis=2) if img.ndim > 2 and img.shape[2] == 1 else img)
    elif method == "masked_image":
        if sign == "all":
            raise ValueError("Cannot display masked image with both positive and negative attributions, "
                             "choose a different sign option.")
        ax.imshow(_prepare_image(img * np.expand_dims(norm, 2)))
    else:
        if sign == "all":
            raise ValueError("Cannot display alpha scaling with both positive and negative attributions, "
                             "choose a different sign option.")
        ax.imshow(np.concatenate([img, _prepare_image(np.expand_dims(norm, 2) * 255)], axis=2))
    if show_colorbar:
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        cax = make_axes_locatable(ax).append_axes("bottom", size="5%", pad=0.1)
        if heat is not None:
            fig.colorbar(heat, orientation="horizontal", cax=cax)
        else:
            cax.axis("off")
    if title:
        ax.set_title(title)
    if use_pyplot and plt_fig_axis is None:
        import matplotlib.pyplot as plt

        if matplotlib.get_backend().lower() != "agg":
            plt.show()
    return fig, ax


def visualize_image_attr_multiple(
    attr: Any,
    original_image: Any,
    methods: List[str],
    signs: List[str],
    titles: Optional[List[str]] = None,
    fig_size: Tuple[int, int] = (8, 6),
    use_pyplot: bool = True,
    **kwargs: Any,
) -> Tuple[Any, Any]:
    """Several methods side by side -> (Figure, Axes or list of Axes)."""
    from matplotlib.figure import Figure

    if len(methods) != len(signs):
        raise ValueError("Methods and signs array lengths must match.")
    if titles is not None and len(titles) != len(methods):
        raise ValueError("If titles list is given, length must match that of methods list.")
    if use_pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=fig_size)
    else:
        fig = Figure(figsize=fig_size)
    axes = fig.subplots(1, len(methods), squeeze=True)
    axis_list = [axes] if len(methods) == 1 else list(np.asarray(axes).tolist())
    for i, (m, s) in enumerate(zip(methods, signs)):
        visualize_image_attr(attr, original_image, method=m, sign=s, plt_fig_axis=(fig, axis_list[i]),
                             use_pyplot=False, title=titles[i] if titles else None, **kwargs)
    fig.tight_layout()
    return fig, axes if len(methods) == 1 else axis_list


def _jet(v: np.ndarray) -> np.ndarray:
    """A jet-like colour map [0, 1] -> RGB [0, 1] (blue - cyan - yellow - red)."""
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.stack([r, g, b], axis=-1)


def _diverging(v: np.ndarray) -> np.ndarray:
    """[-1, 1] -> red (negative) / white (0) / green (positive), Captum's 'all' colours."""
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    r = np.where(v >= 0, 1 - pos, 1.0)
    g = np.where(v >= 0, 1 - 0.5 * pos, 1 - neg)
    b = np.where(v >= 0, 1 - pos, 1 - neg)
    return np.stack([r, g, b], axis=-1)


def overlay_rgb(attr: Any, image: Any = None, sign: str = "absolute_value", outlier_perc: float = 2,
                alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 overlay: normalised attribution in colour over the (grey) image."""
    norm = normalize_attr(attr, sign, outlier_perc)
    heat = _diverging(norm) if sign == "all" else _jet(np.abs(norm))
    if image is None:
        out = heat
    else:
        img = _to_hwc(image).astype(np.float64)
        if img.ndim == 2:
            img = img[..., None]
        if img.max() > 1.0:
            img = img / 255.0
        if img.shape[:2] != norm.shape:
            raise ValueError(f"image is {img.shape[:2]} but the attribution map is {norm.shape}")
        grey = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
        out = (1 - alpha) * grey + alpha * heat
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def save_overlay_png(attr: Any, image: Any, path: str, sign: str = "absolute_value",
                     outlier_perc: float = 2, alpha: float = 0.5) -> str:
    """Write a PNG heat-map overlay of ``attr`` (H, W[, C]) on ``image`` (H, W[, C]; None for
    the heat map alone) with Pillow; returns ``path``."""
    from PIL import Image

    Image.fromarray(overlay_rgb(attr, image, sign, outlier_perc, alpha), mode="RGB").save(path, format="PNG")
    return path
