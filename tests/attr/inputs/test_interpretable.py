"""ImageMaskInput / InterpretableInput behave as Captum 0.9's on the same image and masks."""
import numpy as np
import pytest
import torch

import fastxai.attr as fa

captum_attr = pytest.importorskip("captum.attr")
Image = pytest.importorskip("PIL.Image")


def _image(h=6, w=8, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _mask(h=6, w=8):
    m = torch.full((h, w), 10, dtype=torch.int64)
    m[:, :3] = 3
    m[4:, 5:] = 7
    return m


def _pair(**kw):
    return fa.ImageMaskInput(**kw), captum_attr.ImageMaskInput(**kw)


@pytest.mark.parametrize("kind", ["mask", "mask_list", "none"])
def test_matches_captum(kind):
    img = _image()
    if kind == "mask":
        kw = dict(image=img, mask=_mask(), baseline=(0, 10, 20))
    elif kind == "mask_list":
        m = _mask()
        kw = dict(image=img, mask_list=[m == 3, m != 7, torch.zeros_like(m, dtype=torch.bool)])
    else:
        kw = dict(image=img)
    ours, theirs = _pair(**kw)
    assert isinstance(ours, fa.InterpretableInput)
    assert ours.n_itp_features == theirs.n_itp_features
    assert ours.values == theirs.values and ours.mask_id_to_idx == theirs.mask_id_to_idx
    torch.testing.assert_close(ours.to_tensor(), theirs.to_tensor())
    assert ours.to_model_input() is img and theirs.to_model_input() is img
    n = ours.n_itp_features
    for flags in torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * n).reshape(-1, n):
        t = flags.reshape(1, n)
        np.testing.assert_array_equal(np.array(ours.to_model_input(t)), np.array(theirs.to_model_input(t)))
    for a, b in zip(ours.get_mask_list(), theirs.get_mask_list()):
        torch.testing.assert_close(a, b)
    for dtype in (torch.float32, torch.float64):
        attr = torch.randn(1, n, dtype=dtype)
        torch.testing.assert_close(ours.format_attr(attr), theirs.format_attr(attr))
        got, want = ours.format_pixel_attr(attr), theirs.format_pixel_attr(attr)
        assert got.dtype == want.dtype and got.shape == want.shape == (1, 6, 8)
        torch.testing.assert_close(got, want)


def test_processor_fn_and_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = _image()
    ours, theirs = _pair(image=img, mask=_mask(), processor_fn=lambda im: torch.tensor(np.array(im)).float())
    t = torch.tensor([[1.0, 0.0, 1.0]])
    torch.testing.assert_close(ours.to_model_input(t), theirs.to_model_input(t))
    figs = []
    for inp in (ours, theirs):
        np.random.seed(0)
        fig, ax = inp.plot_mask_overlay(border_width=1)
        figs.append(ax)
    a, b = figs
    assert len(a.images) == len(b.images) == 1 + 2 * 3
    for x, y in zip(a.images, b.images):
        np.testing.assert_array_equal(np.asarray(x.get_array()), np.asarray(y.get_array()))
    assert [t.get_text() for t in a.texts] == [t.get_text() for t in b.texts] == ["3", "7", "10"]
    plt.close("all")


def test_bad_mask_shape():
    with pytest.raises(AssertionError, match="mask shape"):
        fa.ImageMaskInput(_image(), mask=torch.zeros(3, 3))
    with pytest.raises(AssertionError, match=r"mask_list\[0\]"):
        fa.ImageMaskInput(_image(), mask_list=[torch.zeros(3, 3)])


def test_custom_subclass():
    class Ones(fa.InterpretableInput):
        n_itp_features, values = 2, ["a", "b"]

        def to_tensor(self):
            return torch.ones(1, 2)

        def to_model_input(self, perturbed_tensor=None):
            return self.to_tensor() if perturbed_tensor is None else perturbed_tensor * 2

    assert Ones().format_attr(torch.ones(1, 2)).sum() == 2
    with pytest.raises(TypeError):
        fa.InterpretableInput()
