"""fastxai.attr.visualization: Captum's normalisation, figures for every method, PNG overlay."""
import numpy as np
import pytest
import torch

from fastxai.attr import visualization as viz


@pytest.mark.parametrize("sign", ["positive", "absolute_value", "negative", "all"])
def test_normalize_matches_captum(sign):
    cviz = pytest.importorskip("captum.attr._utils.visualization")
    rng = np.random.default_rng(0)
    attr = rng.normal(size=(9, 7, 3))
    ours = viz.normalize_attr(attr, sign, 3)
    theirs = cviz._normalize_attr(attr.sum(2), sign, 3)
    np.testing.assert_allclose(ours, theirs)


def test_figures_all_methods():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    attr, img = rng.normal(size=(8, 8, 3)), rng.random((8, 8, 3))
    for method in viz.METHODS:
        sign = "positive" if method in ("masked_image", "alpha_scaling") else "all"
        fig, ax = viz.visualize_image_attr(attr, img, method, sign, use_pyplot=False, show_colorbar=True, title=method)
        assert ax.get_title() == method
    fig, axes = viz.visualize_image_attr_multiple(torch.tensor(attr).permute(2, 0, 1), img,
                                                  ["heat_map", "blended_heat_map"], ["all", "absolute_value"],
                                                  use_pyplot=False)
    assert len(axes) == 2
    with pytest.raises(ValueError, match="Original Image"):
        viz.visualize_image_attr(attr, None, "blended_heat_map", use_pyplot=False)


def test_save_overlay_png(tmp_path):
    from PIL import Image

    attr = np.zeros((6, 5))
    attr[2, 3] = 1.0
    img = np.full((6, 5, 3), 0.5)
    path = viz.save_overlay_png(attr, img, str(tmp_path / "o.png"), alpha=1.0)
    px = np.asarray(Image.open(path))
    assert px.shape == (6, 5, 3)
    assert tuple(px[2, 3]) == (128, 0, 0)  # the hottest pixel is dark red in the jet map
    assert tuple(px[0, 0]) == (0, 0, 128)  # zero attribution is dark blue
    half = viz.overlay_rgb(attr, img, alpha=0.0)
    assert (half == 128).all()  # alpha 0 shows the grey image only
    div = viz.overlay_rgb(np.array([[1.0, -1.0, 0.0]]), None, sign="all", outlier_perc=0)
    assert tuple(div[0, 0]) == (0, 128, 0) and tuple(div[0, 1]) == (255, 0, 0) and tuple(div[0, 2]) == (255, 255, 255)
