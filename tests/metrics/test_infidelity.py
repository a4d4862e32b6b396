"""fastxai.metrics.infidelity == captum.metrics.infidelity for the same seed and perturb_func."""
from __future__ import annotations

import pytest
import torch

from fastxai.metrics import infidelity, infidelity_perturb_func_decorator

cm = pytest.importorskip("captum.metrics")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(12, 8)
        self.b = torch.nn.Linear(8, 3)

    def forward(self, x, x2=None, scale=1.0):
        h = torch.tanh(self.a(x.reshape(x.shape[0], -1)))
        if x2 is not None:
            h = h + x2.reshape(x2.shape[0], -1)[:, :8]
        return self.b(h) * scale


def perturb_fn(inputs):
    noise = torch.randn_like(inputs) * 0.1
    return noise, inputs - noise


def perturb_tuple(inputs, baselines):
    n = tuple(torch.randn_like(x) * 0.1 for x in inputs)
    return n, tuple(x - e for x, e in zip(inputs, n))


@infidelity_perturb_func_decorator(True)
def perturb_dec_fastxai(inputs, baselines=None):
    return inputs + torch.rand_like(inputs) * 0.05


@cm.infidelity_perturb_func_decorator(True)
def perturb_dec_captum(inputs, baselines=None):
    return inputs + torch.rand_like(inputs) * 0.05


def _both(seed, *args, **kwargs):
    torch.manual_seed(seed)
    ours = infidelity(*args, **kwargs)
    torch.manual_seed(seed)
    theirs = cm.infidelity(*args, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("max_batch", [None, 8, 13])
@pytest.mark.parametrize("normalize", [False, True])
def test_single_input_matches_captum(max_batch, normalize) -> None:
    net = Net()
    x = torch.randn(4, 3, 4, generator=torch.Generator().manual_seed(1))
    attr = torch.randn(4, 3, 4, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 2, 1, 1])
    ours, theirs = _both(5, net, perturb_fn, x, attr, target=target, n_perturb_samples=7,
                         max_examples_per_batch=max_batch, normalize=normalize)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_tuple_inputs_baselines_args_matches_captum() -> None:
    net = Net()
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(3, 12, generator=g), torch.randn(3, 8, generator=g))
    attr = (torch.randn(3, 12, generator=g), torch.randn(3, 8, generator=g))
    base = (torch.zeros(3, 12), 0.5)
    ours, theirs = _both(9, net, perturb_tuple, x, attr, baselines=base, additional_forward_args=(2.0,),
                         target=[0, 1, 2], n_perturb_samples=5, max_examples_per_batch=6)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_decorator_matches_captum() -> None:
    net = Net()
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(4))
    attr = torch.randn(5, 12, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    ours = infidelity(net, perturb_dec_fastxai, x, attr, target=1, n_perturb_samples=4)
    torch.manual_seed(0)
    theirs = cm.infidelity(net, perturb_dec_captum, x, attr, target=1, n_perturb_samples=4)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(AssertionError):
        infidelity(Net(), perturb_fn, torch.randn(2, 12), torch.randn(2, 11), target=0)


@pytest.mark.parametrize("kwargs,name", [({"n_perturb_samples": 0}, "n_perturb_samples"),
                                         ({"n_perturb_samples": -2}, "n_perturb_samples"),
                                         ({"n_perturb_samples": 2.0}, "n_perturb_samples"),
                                         ({"max_examples_per_batch": 0}, "max_examples_per_batch")])
def test_bad_counts_fail_at_the_call_naming_the_argument(kwargs, name) -> None:
    from fastxai._captum.errors import InputError

    calls = []

    def forward(x):
        calls.append(1)
        return Net()(x)

    with pytest.raises(InputError, match=name):
        infidelity(forward, perturb_fn, torch.randn(2, 12), torch.randn(2, 12), target=0, **kwargs)
    assert not calls  # before any forward
