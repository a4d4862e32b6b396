"""Mask drawing helpers: erosion equals scipy's; borders and legends as Captum draws them."""
import numpy as np
import pytest

from fastxai.attr import visualization as viz
from fastxai.attr.visualization.masks import erode


@pytest.mark.parametrize("iterations", [1, 2, 3, 0])
def test_erode_matches_scipy(iterations):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(iterations)
    mask = rng.random((13, 17)) > 0.3
    mask[3:10, 4:12] = True
    np.testing.assert_array_equal(erode(mask, iterations), ndimage.binary_erosion(mask, iterations=iterations))


def test_border_and_legend_match_captum():
    matplotlib = pytest.importorskip("matplotlib")
    cviz = pytest.importorskip("captum.attr._utils.visualization")
    from matplotlib.figure import Figure

    mask = np.zeros((10, 12), dtype=bool)
    mask[2:8, 3:11] = True
    figs = []
    for mod in (viz, cviz):
        fig = Figure()
        ax = fig.subplots()
        mod.draw_mask_border(ax, mask, border_width=2, border_color="red")
        mod.draw_mask_legend(ax, mask, label="7")
        mod.draw_mask_border(ax, np.zeros_like(mask))  # nothing drawn for an empty mask
        figs.append(ax)
    ours, theirs = figs
    np.testing.assert_array_equal(ours.images[0].get_array(), theirs.images[0].get_array())
    assert [(t.get_text(), t.get_position()) for t in ours.texts] == [(t.get_text(), t.get_position()) for t in theirs.texts]
    assert len(ours.images) == len(theirs.images) == 1
    _ = matplotlib
