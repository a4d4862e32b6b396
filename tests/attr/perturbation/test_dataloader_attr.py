"""DataLoaderAttribution equals Captum 0.9's on the same model and DataLoader; batches share forwards."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastxai.attr as fa
from fastxai._captum.errors import InputError

captum_attr = pytest.importorskip("captum.attr")


class Counted(nn.Module):
    """A small MLP that records the rows of every call."""

    def __init__(self, d_in=4, d_out=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 8), nn.Tanh(), nn.Linear(8, d_out))
        self.calls = []

    def forward(self, x, *extra):
        self.calls.append(x.shape[0])
        out = self.net(x.reshape(x.shape[0], -1))
        for e in extra:
            out = out + e.reshape(e.shape[0], -1).sum(1, keepdim=True)
        return out


def _both(model, loader, **kw):
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(model)).attribute(loader, **kw)
    model.calls.clear()
    ours = fa.DataLoaderAttribution(fa.FeatureAblation(model)).attribute(loader, **kw)
    return ours, theirs


def _close(ours, theirs):
    assert type(ours) is type(theirs)
    if isinstance(theirs, tuple):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close(o, t)
        return
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def _correct(acc, out, inputs):
    hits = (out.argmax(1) == inputs[-1]).sum()
    return hits if acc is None else acc + hits


@pytest.mark.parametrize("kw", [
    dict(),
    dict(return_input_shape=False),
    dict(to_metric=lambda acc: acc.sum(0), perturbations_per_pass=3),
    dict(to_metric=lambda acc: acc.mean(), perturbations_per_pass=10),
    dict(to_metric=lambda acc: acc.sum(0), feature_mask=torch.tensor([[0, 0, 2, 2]]),
         baselines=torch.tensor([[0.5, 1.0, -2.0, 3.0]])),
])
def test_matches_captum_single_input(kw):
    torch.manual_seed(0)
    model = Counted()
    loader = DataLoader(TensorDataset(torch.randn(11, 4)), batch_size=4)
    _close(*_both(model, loader, **kw))


def test_float_mask_of_integer_ids():
    # Captum 0.9 fails indexing with a float mask; the same ids as integers are the reference
    model = Counted()
    loader = DataLoader(TensorDataset(torch.randn(7, 4)), batch_size=4)
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(model)).attribute(
        loader, feature_mask=mask.long(), baselines=0.25, to_metric=lambda a: a.sum(0))
    ours = fa.DataLoaderAttribution(fa.FeatureAblation(model)).attribute(
        loader, feature_mask=mask, baselines=0.25, to_metric=lambda a: a.sum(0))
    _close(ours, theirs)


def test_plain_tensor_loader_returns_a_tensor():
    # Captum 0.9 iterates the rows of a tensor batch as if they were elements (it fails here);
    # the reference is the same data as a one-element TensorDataset, whose result is a 1-tuple
    model = Counted()
    x = torch.randn(9, 4)
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(model)).attribute(
        DataLoader(TensorDataset(x), batch_size=5), to_metric=lambda a: a.sum(0))
    ours = fa.DataLoaderAttribution(fa.FeatureAblation(model)).attribute(
        DataLoader(x, batch_size=5), to_metric=lambda a: a.sum(0))
    assert isinstance(ours, torch.Tensor)
    _close(ours, theirs[0])


def test_roles_labels_and_metric_from_reduce():
    torch.manual_seed(1)
    model = Counted()
    data = TensorDataset(torch.randn(13, 4), torch.randint(0, 3, (13,)))
    loader = DataLoader(data, batch_size=3)
    _close(*_both(model, loader, input_roles=(0, 2), reduce=_correct, to_metric=lambda a: a.double() / 13))


def test_two_attributed_inputs_and_a_forward_only_input():
    torch.manual_seed(2)
    model = Counted(d_in=10)
    data = TensorDataset(torch.randn(8, 2, 5), torch.randn(8, 3), torch.randn(8, 1))

    def forward(x, z, w):
        return model(x, z, w)

    for kw in [dict(), dict(feature_mask=(torch.arange(5).reshape(1, 1, 5), torch.tensor([[5, 6, 5]])),
                            baselines=(0.1, torch.tensor([[1.0, 2.0, 3.0]])))]:
        theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(forward)).attribute(
            DataLoader(data, batch_size=3), input_roles=(0, 0, 1), to_metric=lambda a: a.sum(0), **kw)
        ours = fa.DataLoaderAttribution(fa.FeatureAblation(forward)).attribute(
            DataLoader(data, batch_size=3), input_roles=(0, 0, 1), to_metric=lambda a: a.sum(0), **kw)
        assert ours[0].shape == (3, 2, 5) and ours[1].shape == (3, 3)
        _close(ours, theirs)


def test_batch_aggregating_forward_runs_one_perturbation_per_call():
    model = Counted()

    def total(x):
        return model(x).sum()  # one number per batch: copies of a batch cannot share a forward

    loader = DataLoader(TensorDataset(torch.randn(10, 4)), batch_size=4)
    kw = dict(reduce=lambda acc, out, _: out if acc is None else acc + out)
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(total)).attribute(loader, **kw)
    model.calls.clear()
    ours = fa.DataLoaderAttribution(fa.FeatureAblation(total)).attribute(loader, **kw)
    _close(ours, theirs)
    assert max(model.calls) == 4


def test_stacking_shares_forwards_and_equals_unstacked():
    from fastxai.engine.batching import clear_cache

    clear_cache()  # chunk sizes settled by earlier tests (keyed by model identity) would cap stacking
    torch.manual_seed(3)
    model = Counted()
    loader = DataLoader(TensorDataset(torch.randn(12, 4)), batch_size=4)
    kw = dict(to_metric=lambda a: a.sum(0), perturbations_per_pass=5)
    ours, theirs = _both(model, loader, **kw)
    stacked_calls = list(model.calls)
    model.calls.clear()
    plain = fa.DataLoaderAttribution(fa.FeatureAblation(model)).attribute(loader, stack_perturbations=False, **kw)
    _close(ours, theirs)
    _close(plain, theirs)
    assert len(model.calls) == 3 * 5  # 3 batches x (unperturbed + 4 features), one per call as Captum
    assert len(stacked_calls) < len(model.calls) and max(stacked_calls) > 4
    model.calls.clear()
    capped = fa.DataLoaderAttribution(fa.FeatureAblation(model)).attribute(loader, max_batch=8, **kw)
    _close(capped, theirs)
    assert max(model.calls) <= 8


def test_bad_arguments_name_them():
    model = Counted()
    dla = fa.DataLoaderAttribution(fa.FeatureAblation(model))
    loader = DataLoader(TensorDataset(torch.randn(4, 4), torch.zeros(4)), batch_size=2)
    with pytest.raises(InputError, match="input_roles"):
        dla.attribute(loader, input_roles=(0,))
    with pytest.raises(InputError, match="input_roles"):
        dla.attribute(loader, input_roles=(1, 2))
    with pytest.raises(InputError, match=r"baselines\[0\]"):
        dla.attribute(loader, input_roles=(0, 2), baselines=torch.zeros(2, 4))
    with pytest.raises(InputError, match=r"feature_mask\[0\]"):
        dla.attribute(loader, input_roles=(0, 2), feature_mask=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(InputError, match=r"feature_mask\[0\]"):
        dla.attribute(loader, input_roles=(0, 2), feature_mask=torch.tensor([[0.5, 0, 0, 0]]))
    with pytest.raises(InputError, match="perturbations_per_pass"):
        dla.attribute(loader, input_roles=(0, 2), perturbations_per_pass=0)
    with pytest.raises(InputError, match="Tensor"):
        dla.attribute(loader, input_roles=(0, 2), to_metric=lambda a: float(a.sum()))
    with pytest.raises(InputError, match="attr_method"):
        fa.DataLoaderAttribution(fa.Saliency(model))
    assert isinstance(fa.DataLoaderAttribution(captum_attr.FeatureAblation(model)), fa.Attribution)
    bn = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).train()
    with pytest.raises(InputError, match="BatchNorm"):
        fa.DataLoaderAttribution(fa.FeatureAblation(bn)).attribute(DataLoader(TensorDataset(torch.randn(4, 4)), batch_size=2))
