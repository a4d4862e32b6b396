"""Occlusion equals Captum's (float32 results, as Captum returns), incl. clipped windows."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

from fastxai.attr import Occlusion
from fastxai._captum.errors import InputError
from tests.attr.models import MLP, ConvNet, TwoInput, assert_close, make


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sliding_window_shapes=(3, 2, 2), target=1),
        dict(sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), target=[0, 2, 3], baselines=0.3),
        dict(sliding_window_shapes=(3, 4, 4), strides=(3, 4, 4), target=2, perturbations_per_eval=3),
        dict(sliding_window_shapes=(2, 3, 2), strides=2, target=0),
    ],
)
def test_conv_parity(dtype, kwargs) -> None:
    net = make(ConvNet(), dtype)
    x = torch.randn(3, 3, 8, 8, dtype=dtype)
    assert_close(Occlusion(net).attribute(x, **kwargs),
                 captum_attr.Occlusion(net).attribute(x, **kwargs), torch.float32)


def test_tabular_and_multi_input() -> None:
    net = make(MLP())
    x = torch.randn(5, 10, dtype=torch.float64)
    kw = dict(sliding_window_shapes=(3,), strides=2, target=1)
    assert_close(Occlusion(net).attribute(x, **kw), captum_attr.Occlusion(net).attribute(x, **kw))
    net2 = make(TwoInput())
    img, tab = torch.randn(2, 2, 4, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    kw2 = dict(sliding_window_shapes=((2, 2, 2), (2,)), strides=((1, 2, 1), 1), target=0,
               additional_forward_args=(0.5,))
    assert_close(Occlusion(net2).attribute((img, tab), **kw2),
                 captum_attr.Occlusion(net2).attribute((img, tab), **kw2))


def test_volume_windows() -> None:
    vol = torch.randn(2, 1, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    f = lambda v: (v * w).flatten(1).sum(1, keepdim=True) ** 2
    kw = dict(sliding_window_shapes=(1, 2, 3, 3), strides=(1, 2, 3, 3), target=0)
    assert_close(Occlusion(f).attribute(vol, **kw), captum_attr.Occlusion(f).attribute(vol, **kw))


def test_bad_windows() -> None:
    x = torch.randn(2, 3, 8, 8)
    net = make(ConvNet(), torch.float32)
    with pytest.raises(InputError, match="sliding_window_shapes\\[0\\] dim 1"):
        Occlusion(net).attribute(x, sliding_window_shapes=(3, 9, 2), target=0)
    with pytest.raises(InputError, match="strides\\[0\\]"):
        Occlusion(net).attribute(x, sliding_window_shapes=(3, 2, 2), strides=0, target=0)
    with pytest.raises(InputError, match="one entry per non-batch dim"):
        Occlusion(net).attribute(x, sliding_window_shapes=(2, 2), target=0)


# --- Captum drop-in regressions (found by running Captum's own tests on fastxai) -------------


def test_scalar_examples_with_empty_window() -> None:
    # Inputs of shape (N,): the window () covers the example's single value.
    f = lambda a, b: 3 * a - b ** 2
    a, b = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    kw = dict(sliding_window_shapes=((), ()), baselines=(0.5, -1.0))
    assert_close(Occlusion(f).attribute((a, b), **kw), captum_attr.Occlusion(f).attribute((a, b), **kw))


def test_stride_above_window_is_refused_unless_the_window_spans_the_dim() -> None:
    net = make(MLP())
    x = torch.randn(2, 10, dtype=torch.float64)
    with pytest.raises(InputError, match="larger than the window"):
        Occlusion(net).attribute(x, sliding_window_shapes=(2,), strides=3, target=0)
    img = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    f = lambda v: v.flatten(1).sum(1, keepdim=True) ** 2
    kw = dict(sliding_window_shapes=(1, 2, 2), strides=(5, 2, 2), target=0)  # dim 0 spanned
    assert_close(Occlusion(f).attribute(img, **kw), captum_attr.Occlusion(f).attribute(img, **kw))


def test_broadcast_baselines_match_captum() -> None:
    net = make(MLP())
    x = torch.randn(3, 10, dtype=torch.float64)
    for base in (torch.randn(10, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)):
        kw = dict(sliding_window_shapes=(3,), strides=2, target=2, baselines=base)
        assert_close(Occlusion(net).attribute(x, **kw), captum_attr.Occlusion(net).attribute(x, **kw))
