"""visualize_timeseries_attr draws Captum 0.9's figure (same axes, lines, spans, colours, limits)."""
import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fastxai.attr import visualization as viz  # noqa: E402


@pytest.fixture
def cviz(monkeypatch):
    mod = pytest.importorskip("captum.attr._utils.visualization")
    # Captum 0.9 calls matplotlib.cm.get_cmap, removed in matplotlib 3.9: give it back for the reference run
    monkeypatch.setattr(matplotlib.cm, "get_cmap", matplotlib.colormaps.get_cmap, raising=False)
    yield mod
    plt.close("all")


def _figure_summary(fig):
    out = []
    for ax in fig.axes:
        out.append(dict(
            lines=[np.asarray(line.get_xydata()).round(12).tolist() for line in ax.get_lines()],
            line_colors=[matplotlib.colors.to_rgba(line.get_color()) for line in ax.get_lines()],
            patches=[(np.round(p.get_facecolor(), 12).tolist(), np.round(p.get_path().vertices, 12).tolist()
                      if p.get_path() is not None else None) for p in ax.patches],
            collections=[(np.asarray(c.get_array()).round(12).tolist() if c.get_array() is not None else None,
                          [np.asarray(s).round(12).tolist() for s in c.get_segments()]
                          if hasattr(c, "get_segments") else None) for c in ax.collections],
            ylabel=ax.get_ylabel(), title=ax.get_title(), xlim=ax.get_xlim(),
            ylim=ax.get_ylim(), legend=None if ax.get_legend() is None else
            [t.get_text() for t in ax.get_legend().get_texts()],
        ))
    return out


@pytest.mark.parametrize("method", ["overlay_individual", "overlay_combined", "colored_graph"])
@pytest.mark.parametrize("sign", ["absolute_value", "all", "positive", "negative"])
def test_matches_captum(cviz, method, sign):
    rng = np.random.default_rng(3)
    attr, data = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    kw = dict(method=method, sign=sign, channel_labels=["a", "b", "c"], title="t", show_colorbar=True,
              x_values=np.linspace(0, 2, 12), linewidth=2)
    plt.close("all")
    f1, ax1 = cviz.visualize_timeseries_attr(attr, data, **kw)
    ours_fig, ours_ax = viz.visualize_timeseries_attr(torch.tensor(attr), torch.tensor(data), **kw)
    assert type(ours_ax) is type(ax1)
    assert _figure_summary(ours_fig) == _figure_summary(f1)


def test_channels_first_and_own_axes(cviz):
    rng = np.random.default_rng(4)
    attr, data = rng.normal(size=(2, 9)), rng.normal(size=(2, 9))
    fig = matplotlib.figure.Figure()
    axes = fig.subplots(nrows=2, sharex=True)
    got_fig, got_ax = viz.visualize_timeseries_attr(attr, data, channels_last=False, plt_fig_axis=(fig, axes),
                                                    use_pyplot=False)
    assert got_fig is fig and got_ax is axes
    plt.close("all")
    ref_fig, _ = cviz.visualize_timeseries_attr(attr, data, channels_last=False)
    assert _figure_summary(got_fig) == _figure_summary(ref_fig)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        viz.visualize_timeseries_attr(np.ones((4, 2)), np.ones((4, 2)), method="bars", use_pyplot=False)
    with pytest.raises(AssertionError, match="attr of shape"):
        viz.visualize_timeseries_attr(np.ones(4), np.ones((4, 2)), use_pyplot=False)
    with pytest.raises(AssertionError, match="x_values"):
        viz.visualize_timeseries_attr(np.ones((4, 2)), np.ones((4, 2)), x_values=np.arange(3), use_pyplot=False)
