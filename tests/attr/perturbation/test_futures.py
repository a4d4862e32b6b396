"""attribute_future (forward functions returning torch.futures.Future) equals Captum 0.9's
on the classes that have it, and is refused where Captum refuses it."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from tests.attr.models import MLP, TwoInput, assert_close, make  # noqa: E402


def as_future(net):
    """``net`` whose outputs come back as completed futures (the way Captum's tests do it)."""

    def forward(*args):
        fut = torch.futures.Future()
        fut.set_result(net(*args))
        return fut

    return forward


MASK = torch.tensor([[0, 0, 1, 1, 2, 3, 3, 4, 4, 4]])


@pytest.mark.parametrize("name,kwargs", [
    ("FeatureAblation", dict(target=1)),
    ("FeatureAblation", dict(target=torch.tensor([0, 2, 1, 0]), feature_mask=MASK, baselines=0.3,
                             perturbations_per_eval=3)),
    ("FeaturePermutation", dict(target=2, feature_mask=MASK)),
    ("ShapleyValueSampling", dict(target=1, feature_mask=MASK, n_samples=4)),
    ("ShapleyValues", dict(target=0, feature_mask=MASK)),
])
def test_attribute_future_matches_captum(name, kwargs):
    # float32: Captum's Shapley classes return float32 even for float64 models (fastxai keeps
    # float64 there, a documented difference)
    net = make(MLP(), torch.float32)
    x = torch.randn(4, 10)
    torch.manual_seed(7)
    want = getattr(captum_attr, name)(as_future(net)).attribute_future(x, **kwargs)
    torch.manual_seed(7)
    got = getattr(fa, name)(as_future(net)).attribute_future(x, **kwargs)
    assert type(got) is type(want) is torch.Future and got.done()  # Captum's tests check the type
    assert_close(got.wait(), want.wait(), torch.float32)
    # and exactly the numbers of attribute() on the plain model, at a fixed chunk size (the
    # calibrated one depends on timing, and float32 GEMMs may round differently per batch size)
    fixed = {**kwargs, "perturbations_per_eval": 1}
    torch.manual_seed(7)
    got = getattr(fa, name)(as_future(net)).attribute_future(x, **fixed).wait()
    torch.manual_seed(7)
    assert torch.equal(got, getattr(fa, name)(net).attribute(x, **fixed))


def test_attribute_future_tuple_inputs_and_additional_args():
    net = make(TwoInput())
    img, tab = torch.randn(3, 2, 4, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    kwargs = dict(target=1, additional_forward_args=(2.0,))
    want = captum_attr.FeatureAblation(as_future(net)).attribute_future((img, tab), **kwargs).wait()
    got = fa.FeatureAblation(as_future(net)).attribute_future((img, tab), **kwargs).wait()
    assert isinstance(got, tuple) and len(got) == 2
    assert_close(got, want)


@pytest.mark.parametrize("name", ["Occlusion", "Lime", "KernelShap"])
def test_attribute_future_refused_where_captum_refuses(name):
    net = make(MLP())
    for mod in (captum_attr, fa):
        with pytest.raises(NotImplementedError):
            getattr(mod, name)(as_future(net)).attribute_future()


def test_futures_and_plain_forwards_are_not_mixed():
    net = make(MLP())
    x = torch.randn(3, 10, dtype=torch.float64)
    with pytest.raises(AssertionError):
        captum_attr.FeatureAblation(as_future(net)).attribute(x, target=0)
    with pytest.raises(AssertionError, match="attribute_future"):
        fa.FeatureAblation(as_future(net)).attribute(x, target=0)
    with pytest.raises(AssertionError, match="torch.futures.Future"):
        fa.FeatureAblation(net).attribute_future(x, target=0)
