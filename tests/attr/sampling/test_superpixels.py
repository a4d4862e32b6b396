"""superpixel_mask: scikit-image segmentations as 0-based feature masks usable by the samplers."""
import pytest
import torch

pytest.importorskip("skimage")
from skimage import segmentation

from fastxai._captum.errors import InputError
from fastxai.attr.sampling import KernelShap, superpixel_mask


def _images(n=2):
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(n, 3, 32, 32)
    img[:, 0, :16] = 1.0
    img[:, 1, :, 16:] = 1.0
    return img + 0.05 * torch.rand(n, 3, 32, 32, generator=g)


@pytest.mark.parametrize("method", ["slic", "quickshift", "felzenszwalb"])
def test_masks_are_zero_based_and_contiguous(method):
    m = superpixel_mask(_images(), method=method, n_segments=16)
    assert m.shape == (2, 1, 32, 32) and m.dtype == torch.int64
    for k in range(2):
        ids = m[k].unique()
        assert int(ids.min()) == 0 and torch.equal(ids, torch.arange(ids.numel()))


def test_slic_matches_scikit_image_partition():
    img = _images(1)
    m = superpixel_mask(img, "slic", n_segments=16)[0, 0]
    arr = img[0].permute(1, 2, 0).double().numpy()
    arr = (arr - arr.min()) / (arr.max() - arr.min())
    ref = torch.from_numpy(segmentation.slic(arr, n_segments=16, compactness=10.0, start_label=1, channel_axis=-1))
    # same partition up to renumbering (scikit-image starts at 1)
    assert int(ref.min()) == 1
    pairs = torch.stack([m.flatten(), ref.flatten()], 1).unique(dim=0)
    assert pairs.shape[0] == m.unique().numel() == ref.unique().numel()


def test_usable_as_feature_mask():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = _images()
    mask = superpixel_mask(x, n_segments=9)
    attr = KernelShap(net).attribute(x, target=0, feature_mask=mask, n_samples=64, seed=0, constraint=True)
    assert attr.shape == x.shape
    # constant within each superpixel
    for k in range(2):
        for s in mask[k].unique():
            vals = attr[k][:, mask[k, 0] == s]
            assert torch.allclose(vals, vals.flatten()[0].expand_as(vals))


def test_bad_method():
    with pytest.raises(InputError, match="method"):
        superpixel_mask(_images(), method="watershed")
