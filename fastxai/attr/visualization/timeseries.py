"""Captum's ``visualize_timeseries_attr``: attributions over a multichannel time series.

Same signature, defaults, normalisation and figure structure as Captum 0.9 (one panel per
channel with a line and one ``axvspan`` per time step coloured by the normalised attribution;
one panel with all channels and the channel-summed attribution; or lines coloured by
attribution as a ``LineCollection``). Differences: it runs on matplotlib >= 3.9 (Captum 0.9
calls the removed ``matplotlib.cm.get_cmap`` and fails there); ``hspace`` and the x-limits are
set on the returned figure and axes (Captum sets them through ``pyplot``'s current figure,
which with ``use_pyplot=False`` is another figure); torch tensors are accepted as well as numpy
arrays; a bad ``method`` / ``sign`` raises ``ValueError`` naming it before anything is drawn.
"""
from __future__ import annotations

import warnings
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from fastxai.attr.visualization.image import SIGNS, create_figure, normalize_attr

TIMESERIES_METHODS = ("overlay_individual", "overlay_combined", "colored_graph")


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _cmap_and_range(sign: str, cmap: Any) -> Tuple[Any, float, float]:
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    if sign == "all":
        default: Any = LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"])
        vmin = -1.0
    else:
        default = {"positive": "Greens", "negative": "Reds", "absolute_value": "Blues"}[sign]
        vmin = 0.0
    cmap = default if cmap is None else cmap
    return (matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap), vmin, 1.0


def _spans(ax: Any, attr: np.ndarray, x: np.ndarray, cmap: Any, norm: Any, alpha: float) -> None:
    half = (x[1] - x[0]) / 2.0
    for i, center in enumerate(x):
        ax.axvspan(xmin=center - half, xmax=center + half, facecolor=cmap(norm(attr[i])), edgecolor=None, alpha=alpha)


def _draw(method: str, axes: List[Any], x: np.ndarray, data: np.ndarray, labels: Optional[List[str]],
          norm_attr: np.ndarray, cmap: Any, norm: Any, alpha: float, kwargs: dict) -> None:
    import matplotlib
    from matplotlib.collections import LineCollection

    if method == "overlay_combined":
        axes[0].set_prop_cycle(color=matplotlib.colormaps["Dark2"].colors)
        for c in range(data.shape[0]):
            axes[0].plot(x, data[c, :], label=labels[c] if labels else None, **kwargs)
        _spans(axes[0], norm_attr, x, cmap, norm, alpha)
        axes[0].legend(loc="best")
        return
    for c in range(data.shape[0]):
        ax = axes[c]
        if method == "overlay_individual":
            ax.plot(x, data[c, :], **kwargs)
        else:
            points = np.array([x, data[c, :]]).T.reshape(-1, 1, 2)
            lines = LineCollection(np.concatenate([points[:-1], points[1:]], axis=1), cmap=cmap, norm=norm, **kwargs)
            lines.set_array(norm_attr[c, :])
            ax.add_collection(lines)
            ax.set_ylim(1.2 * np.min(data[c, :]), 1.2 * np.max(data[c, :]))
        if labels is not None:
            ax.set_ylabel(labels[c])
        if method == "overlay_individual":
            _spans(ax, norm_attr[c], x, cmap, norm, alpha)


def visualize_timeseries_attr(
    attr: Any,
    data: Any,
    x_values: Any = None,
    method: str = "overlay_individual",
    sign: str = "absolute_value",
    channel_labels: Optional[List[str]] = None,
    channels_last: bool = True,
    plt_fig_axis: Optional[Tuple[Any, Any]] = None,
    outlier_perc: Union[int, float] = 2,
    cmap: Any = None,
    alpha_overlay: float = 0.7,
    show_colorbar: bool = False,
    title: Optional[str] = None,
    fig_size: Tuple[int, int] = (6, 6),
    use_pyplot: bool = True,
    **pyplot_kwargs: Any,
) -> Tuple[Any, Any]:
    """Draw ``attr`` over ``data``, both (N, C) (or (C, N) with ``channels_last=False``) for N
    equidistant time points (``x_values`` (N,), default 0..N-1) -> (Figure, Axes or array of Axes).

    ``method``: ``overlay_individual`` (a panel per channel, attributions as background
    colour), ``overlay_combined`` (one panel, channel-summed attributions), ``colored_graph``
    (a panel per channel, the line coloured by attribution). ``sign``, ``outlier_perc`` and
    ``cmap`` as in ``visualize_image_attr``; ``pyplot_kwargs`` go to the line plots."""
    if method not in TIMESERIES_METHODS:
        raise ValueError(f"method must be one of {TIMESERIES_METHODS}, got {method!r}")
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    attr, data = _np(attr), _np(data)
    if attr.ndim != 2:
        raise AssertionError("Expected attr of shape (N, C), got {}".format(attr.shape))
    if data.ndim != 2:
        raise AssertionError("Expected data of shape (N, C), got {}".format(data.shape))
    if channels_last:
        attr, data = attr.T, data.T
    n_channels, length = attr.shape
    if n_channels > length:
        warnings.warn(f"Number of channels ({n_channels}) greater than time series length ({length}), "
                      "please verify input format", stacklevel=2)
    if method == "overlay_combined":
        attr = np.sum(attr, axis=0)
    if x_values is not None:
        x_values = _np(x_values)
        if x_values.shape[0] != length:
            raise AssertionError("x_values must have same length as data")
    else:
        x_values = np.arange(length)
    fig, axis = create_figure(plt_fig_axis, use_pyplot, fig_size, nrows=1 if method == "overlay_combined" else n_channels,
                              sharex=True)
    axes = list(axis) if isinstance(axis, np.ndarray) else [axis]
    norm_attr = normalize_attr(attr, sign, outlier_perc)
    cmap, vmin, vmax = _cmap_and_range(sign, cmap)
    from matplotlib import colors

    norm = colors.Normalize(vmin, vmax)
    _draw(method, axes, x_values, data, channel_labels, norm_attr, cmap, norm, alpha_overlay, pyplot_kwargs)
    if method != "overlay_combined":
        fig.subplots_adjust(hspace=0)
    axes[-1].set_xlim([x_values[0], x_values[-1]])
    if show_colorbar:
        _colorbar(fig, axes[-1], cmap, norm, 1.0 if method == "colored_graph" else alpha_overlay)
    if title:
        axes[0].set_title(title)
    if use_pyplot:
        import matplotlib
        import matplotlib.pyplot as plt

        if matplotlib.get_backend().lower() != "agg":
            plt.show()
    return fig, axis


def _colorbar(fig: Any, ax: Any, cmap: Any, norm: Any, alpha: float) -> None:
    from matplotlib import cm
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    cax = make_axes_locatable(ax).append_axes("bottom", size="5%", pad=0.4)
    fig.colorbar(cm.ScalarMappable(norm, cmap), orientation="horizontal", cax=cax, alpha=alpha)
