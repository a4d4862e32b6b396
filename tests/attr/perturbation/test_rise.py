"""RISE equals a plain reference implementation given the same masks; masks are the
standard upsample-and-crop of a random grid; seeded results do not depend on chunking."""
import math

import pytest
import torch
import torch.nn.functional as F

from fastxai.attr import RISE
from fastxai._captum.errors import InputError
from fastxai.ops.philox import reference_philox_uniform
from fastxai.ops.rise_masks import reference_rise_masks
from tests.attr.models import ConvNet, make


def test_equals_plain_reference_with_same_masks() -> None:
    net = make(ConvNet())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    n_masks, p = 300, 0.4
    got = RISE(net).attribute(x, target=[1, 3], n_masks=n_masks, grid_size=3, p_keep=p, seed=11)
    masks = reference_rise_masks(11, 0, n_masks, (8, 8), (3, 3), p).double()  # (P, 8, 8)
    with torch.no_grad():
        scores = torch.stack([net(x * m)[torch.arange(2), torch.tensor([1, 3])] for m in masks])  # (P, N)
    expected = torch.einsum("pn,phw->nhw", scores, masks) / (n_masks * p)
    torch.testing.assert_close(got[:, 0], expected, rtol=1e-9, atol=1e-12)
    assert got.shape == x.shape and torch.equal(got[:, 0], got[:, 2])


def test_masks_are_upsampled_shifted_grids() -> None:
    seed, size, g, p = 5, 13, 4, 0.5
    masks = reference_rise_masks(seed, 0, 6, (size, size), (g, g), p)
    cell = math.ceil(size / g)
    for k in range(6):
        grid = (reference_philox_uniform(seed, torch.arange(g * g), k, 0, 0) < p).float().reshape(1, 1, g, g)
        up = F.interpolate(grid, size=((g + 1) * cell,) * 2, mode="bilinear", align_corners=False)[0, 0]
        sy, sx = (int(reference_philox_uniform(seed, torch.tensor([d]), k, 0, 1) * cell) for d in (1, 2))
        torch.testing.assert_close(masks[k], up[sy : sy + size, sx : sx + size], rtol=0, atol=1e-6)


def test_seeded_independent_of_batch_size() -> None:
    net = make(ConvNet())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    a = RISE(net).attribute(x, target=0, n_masks=200, grid_size=4, seed=2, max_batch=9)
    b = RISE(net).attribute(x, target=0, n_masks=200, grid_size=4, seed=2, max_batch=600)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    one = RISE(net).attribute(x[1:2], target=0, n_masks=200, grid_size=4, seed=2)
    torch.testing.assert_close(a[1:2], one, rtol=1e-10, atol=1e-12)


def test_volumes_and_tabular() -> None:
    vol = torch.randn(2, 1, 4, 6, 6)
    f = lambda v: v.flatten(1)[:, :10].sum(1, keepdim=True)
    out = RISE(f).attribute(vol, target=0, n_masks=50, grid_size=(2, 3, 3), seed=0)
    assert out.shape == vol.shape
    tab = torch.randn(3, 12)
    out = RISE(lambda t: t[:, :2]).attribute(tab, target=1, n_masks=64, grid_size=4, seed=0)
    assert out.shape == tab.shape


def test_bad_arguments() -> None:
    x = torch.randn(1, 3, 8, 8)
    net = make(ConvNet(), torch.float32)
    with pytest.raises(InputError, match="n_masks"):
        RISE(net).attribute(x, target=0, n_masks=0)
    with pytest.raises(InputError, match="p_keep"):
        RISE(net).attribute(x, target=0, p_keep=1.5)
