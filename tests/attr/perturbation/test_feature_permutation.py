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


# --- Captum drop-in regressions (found by running Captum's own tests on fastxai) -------------


def test_index_list_input_is_shuffled_along_its_own_length() -> None:
    net = make(MLP(3, 1))

    def forward(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return net(x).sum() + idx[0].double()

    x = torch.randn(4, 3, dtype=torch.float64)
    idx = torch.tensor([1, 7, 2, 4, 5, 3, 6])
    torch.manual_seed(3)
    expected = captum_attr.FeaturePermutation(forward).attribute((x, idx))
    torch.manual_seed(3)
    got = FeaturePermutation(forward).attribute((x, idx))
    assert got[1].shape == (1,)
    assert_close(got, expected)


def test_only_features_of_too_short_tensors_are_skipped() -> None:
    net = make(MLP(6, 3))
    # b is one row per call (dim 0 = 1, not the batch); k batched copies give k rows of b
    f = lambda a, b: net(torch.cat([a, b.repeat_interleave(a.shape[0] // b.shape[0], 0)], 1))
    a, b = torch.randn(4, 4, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
    torch.manual_seed(5)
    expected = captum_attr.FeaturePermutation(f).attribute((a, b), target=1)
    torch.manual_seed(5)
    got = FeaturePermutation(f).attribute((a, b), target=1)
    assert bool((got[1] == 0).all()) and bool((got[0] != 0).any())
    assert_close(got, expected)


def test_integer_outputs_keep_their_dtype() -> None:
    f = lambda x: (x * torch.tensor([[1, -2, 3]])).sum(1)
    x = torch.tensor([[1, 2, 3], [4, 5, 6], [0, -1, 2]])
    torch.manual_seed(2)
    expected = captum_attr.FeaturePermutation(f).attribute(x)
    torch.manual_seed(2)
    got = FeaturePermutation(f).attribute(x)
    assert got.dtype == torch.int64
    assert_close(got, expected)


def test_draw_order_follows_captum_when_the_first_input_holds_higher_ids() -> None:
    # Captum walks features input by input (first appearance), not by sorted id; the order
    # of the random draws, hence the seeded result, depends on it.
    net = make(MLP(6, 3))
    f = lambda a, b: net(torch.cat([a, b], 1))
    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    masks = (torch.tensor([[4, 5, 3]]), torch.tensor([[0, 1, 2]]))
    torch.manual_seed(11)
    expected = captum_attr.FeaturePermutation(f).attribute((a, b), target=2, feature_mask=masks)
    torch.manual_seed(11)
    got = FeaturePermutation(f).attribute((a, b), target=2, feature_mask=masks)
    assert_close(got, expected)
