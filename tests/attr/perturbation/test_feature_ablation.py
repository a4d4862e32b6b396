"""FeatureAblation equals Captum's on conv nets, MLPs and multi-input models."""
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

from fastxai.attr import FeatureAblation
from fastxai._captum.errors import InputError, NonFiniteOutputError
from tests.attr.models import MLP, ConvNet, TwoInput, assert_close, make

GRID = torch.arange(16).reshape(4, 4).repeat_interleave(2, 0).repeat_interleave(2, 1).reshape(1, 1, 8, 8)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(target=1),
        dict(target=torch.tensor([0, 3, 2]), feature_mask=GRID),
        dict(target=[1, 2, 3], feature_mask=GRID, baselines=0.5, perturbations_per_eval=5),
        dict(target=2, baselines=torch.rand(1, 3, 8, 8), feature_mask=GRID + 7),
    ],
)
def test_conv_parity(dtype, kwargs) -> None:
    net = make(ConvNet(), dtype)
    x = torch.randn(3, 3, 8, 8, dtype=dtype)
    kwargs = {k: (v.to(dtype) if k == "baselines" and torch.is_tensor(v) else v) for k, v in kwargs.items()}
    expected = captum_attr.FeatureAblation(net).attribute(x, **kwargs)
    got = FeatureAblation(net).attribute(x, **kwargs)
    assert_close(got, expected, dtype)


def test_mlp_and_scalar_per_batch_forward() -> None:
    net = make(MLP())
    x = torch.randn(4, 10, dtype=torch.float64)
    assert_close(FeatureAblation(net).attribute(x, target=2),
                 captum_attr.FeatureAblation(net).attribute(x, target=2))
    total = lambda inp: net(inp).sum()  # one scalar per batch
    mask = torch.arange(10).reshape(1, 10) // 3
    assert_close(FeatureAblation(total).attribute(x, feature_mask=mask),
                 captum_attr.FeatureAblation(total).attribute(x, feature_mask=mask))


def test_multi_input_cross_tensor_ids_and_additional_args() -> None:
    net = make(TwoInput())
    img, tab = torch.randn(2, 2, 4, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    masks = (torch.arange(4).repeat_interleave(4).reshape(1, 1, 4, 4).expand(1, 2, 4, 4),
             torch.tensor([[0, 1, 5, 6, 6]]))  # ids 0 and 1 shared across tensors
    kw = dict(target=1, feature_mask=masks, additional_forward_args=(2.0,), baselines=(0.1, -1.0))
    assert_close(FeatureAblation(net).attribute((img, tab), **kw),
                 captum_attr.FeatureAblation(net).attribute((img, tab), **kw))


def test_multi_target_one_pass_equals_per_target_calls() -> None:
    net = make(ConvNet())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    targets = torch.tensor([[0, 1], [2, 3], [1, 1]])
    both = FeatureAblation(net).attribute(x, target=targets, feature_mask=GRID)
    assert both.shape == (3, 2, 3, 8, 8)
    for k in range(2):
        single = FeatureAblation(net).attribute(x, target=targets[:, k], feature_mask=GRID)
        torch.testing.assert_close(both[:, k], single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("max_batch", [3, 7, 64, None])
def test_any_chunking_gives_the_same_answer(max_batch) -> None:
    net = make(ConvNet())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    ref = captum_attr.FeatureAblation(net).attribute(x, target=0, feature_mask=GRID)
    got = FeatureAblation(net).attribute(x, target=0, feature_mask=GRID, max_batch=max_batch)
    assert_close(got, ref)


def test_bf16_inputs_run() -> None:
    net = make(ConvNet(), torch.bfloat16)
    x = torch.randn(2, 3, 8, 8, dtype=torch.bfloat16)
    out = FeatureAblation(net).attribute(x, target=0, feature_mask=GRID)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape


def test_captum_object_contract() -> None:
    fa = FeatureAblation(make(MLP()))
    assert hasattr(fa.attribute, "__wrapped__")
    assert fa.has_convergence_delta() is False
    assert fa.multiplies_by_inputs is True
    assert FeatureAblation.get_name() == "Feature Ablation"


def test_bad_inputs_are_named() -> None:
    net = make(ConvNet())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(InputError, match="baselines\\[0\\]"):
        FeatureAblation(net).attribute(x, target=0, baselines=torch.zeros(2, 3, 4, 4))
    with pytest.raises(IndexError, match="out of range"):
        FeatureAblation(net).attribute(x, target=9)
    with pytest.raises(InputError, match="target list has length"):
        FeatureAblation(net).attribute(x, target=[0, 1, 2])
    with pytest.raises(InputError, match="feature_mask\\[0\\]"):
        FeatureAblation(net).attribute(x, target=0, feature_mask=torch.zeros(1, 1, 4, 4, dtype=torch.long))
    with pytest.raises(InputError, match="perturbations_per_eval"):
        FeatureAblation(net).attribute(x, target=0, perturbations_per_eval=0)
    net.train()
    with pytest.raises(InputError, match="BatchNorm"):
        FeatureAblation(net).attribute(x, target=0)


def test_non_finite_outputs_name_the_chunk() -> None:
    def forward(x: torch.Tensor) -> torch.Tensor:
        out = x.sum(dim=1, keepdim=True)
        return torch.where(x[:, 3:4] == 0, torch.full_like(out, float("nan")), out)

    x = torch.ones(2, 6, dtype=torch.float64)
    with pytest.raises(NonFiniteOutputError, match="chunk 3\\.\\.3"):
        FeatureAblation(forward).attribute(x, target=0, perturbations_per_eval=1)


# --- Captum drop-in regressions (found by running Captum's own tests on fastxai) -------------


def test_integer_outputs_give_integer_attributions_like_captum() -> None:
    # An int64 model (or a forward returning a Python int) yields int64 drops in Captum.
    weights = torch.tensor([[2, -1, 3, 1]])
    per_example = lambda x: (x * weights).sum(dim=1, keepdim=True)
    x = torch.tensor([[1, 4, -2, 5], [3, 0, 1, -1]])
    got = FeatureAblation(per_example).attribute(x, target=0, perturbations_per_eval=2)
    assert got.dtype == torch.int64
    assert_close(got, captum_attr.FeatureAblation(per_example).attribute(x, target=0))
    as_int = lambda x: int(per_example(x).sum())
    assert_close(FeatureAblation(as_int).attribute(x), captum_attr.FeatureAblation(as_int).attribute(x))


def test_unbatched_side_tensor_is_ablated_whole() -> None:
    # A second input whose dim 0 is not the batch (an index list of any length, or empty):
    # Captum treats it as one feature, repeated whole per perturbation.
    lin = make(MLP(3, 1))

    def forward(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return lin(x).sum() + (idx.double().mean() if idx.numel() else 0.0)

    x = torch.randn(3, 3, dtype=torch.float64)
    for idx in (torch.tensor([4, 9, 1, 7, 2]), torch.tensor([])):
        got = FeatureAblation(forward).attribute((x, idx))
        assert got[1].shape == (1,)
        assert_close(got, captum_attr.FeatureAblation(forward).attribute((x, idx)))


@pytest.mark.parametrize("shape", [(10,), (4, 1), (1, 10)])
def test_baselines_that_only_broadcast_are_accepted(shape) -> None:
    net = make(MLP())
    x = torch.randn(4, 10, dtype=torch.float64)
    base = torch.randn(shape, dtype=torch.float64)
    kw = dict(target=1, baselines=base, feature_mask=torch.arange(10).reshape(1, 10) // 4)
    assert_close(FeatureAblation(net).attribute(x, **kw), captum_attr.FeatureAblation(net).attribute(x, **kw))


def test_per_example_mask_needs_per_example_outputs() -> None:
    first_row = lambda x: x[0].unsqueeze(0)  # (1, F) for any batch: not per example
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(InputError, match="per-example ids"):
        FeatureAblation(first_row).attribute(x, feature_mask=torch.tensor([[0, 1, 2], [0, 0, 1]]))


def test_progress_bar_is_labelled_as_captum(capsys) -> None:
    net = make(MLP())
    FeatureAblation(net).attribute(torch.randn(2, 10, dtype=torch.float64), target=0, show_progress=True)
    assert "Feature Ablation attribution" in capsys.readouterr().err


@pytest.mark.parametrize("cls", ["FeatureAblation", "FeaturePermutation"])
def test_captum_08_cross_tensor_flag_is_accepted_and_ignored_as_captum_09(cls):
    """Captum 0.9 takes ``enable_cross_tensor_attribution`` (0.8's flag) and ignores it."""
    import captum.attr as captum_attr

    torch.manual_seed(0)
    net = torch.nn.Linear(6, 3).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 1, 2, 2]])
    torch.manual_seed(1)
    want = getattr(captum_attr, cls)(net).attribute(x, target=1, feature_mask=mask,
                                                     enable_cross_tensor_attribution=True)
    torch.manual_seed(1)
    import fastxai.attr as fa
    got = getattr(fa, cls)(net).attribute(x, target=1, feature_mask=mask, enable_cross_tensor_attribution=True)
    torch.testing.assert_close(got, want)
    with pytest.raises(TypeError, match="unexpected"):
        getattr(fa, cls)(net).attribute(x, target=1, feature_mask=mask, no_such_argument=1)
