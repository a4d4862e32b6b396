"""FeaturePermutation reproduces Captum's seeded results (same global-RNG draw order)."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

from fastxai.attr import FeaturePermutation
from tests.attr.models import MLP, assert_close, make


@pytest.mark.parametrize("ppe", [None, 1, 2, 4])
def test_seeded_parity(ppe) -> None:
    net = make(MLP(6, 3))
    x = torch.randn(5, 6, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 1, 2, 3]])
    torch.manual_seed(7)
    expected = captum_attr.FeaturePermutation(net).attribute(
        x, target=1, feature_mask=mask, perturbations_per_eval=ppe or 1)
    torch.manual_seed(7)
    got = FeaturePermutation(net).attribute(x, target=1, feature_mask=mask, perturbations_per_eval=ppe)
    assert_close(got, expected)


def test_cross_tensor_features() -> None:
    net = make(MLP(6, 3))
    f = lambda a, b: net(torch.cat([a, b], 1))
    x = torch.randn(4, 6, dtype=torch.float64)
    masks = (torch.tensor([[0, 1, 2, 3]]), torch.tensor([[3, 1]]))
    torch.manual_seed(1)
    expected = captum_attr.FeaturePermutation(f).attribute((x[:, :4], x[:, 4:]), target=0, feature_mask=masks, perturbations_per_eval=3)
    torch.manual_seed(1)
    got = FeaturePermutation(f).attribute((x[:, :4], x[:, 4:]), target=0, feature_mask=masks, perturbations_per_eval=3)
    assert_close(got, expected)


def test_seeded_is_independent_of_chunking() -> None:
    net = make(MLP(6, 3))
    x = torch.randn(5, 6, dtype=torch.float64)
    a = FeaturePermutation(net).attribute(x, target=0, seed=3, max_batch=5)
    b = FeaturePermutation(net).attribute(x, target=0, seed=3, max_batch=30)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    c = FeaturePermutation(net).attribute(x, target=0, seed=4)
    assert not torch.allclose(a, c)


def test_batch_of_one_gives_zeros_like_captum() -> None:
    net = make(MLP(6, 3))
    x = torch.randn(1, 6, dtype=torch.float64)
    assert_close(FeaturePermutation(net).attribute(x, target=0),
                 captum_attr.FeaturePermutation(net).attribute(x, target=0))
