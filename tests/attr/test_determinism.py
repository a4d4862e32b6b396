"""The determinism rule, for every method: fastxai's own arithmetic (mask / coalition
generation, reductions, surrogate fits) runs in a fixed order, so with a seed the result is
bit-identical across chunk sizes (``max_batch``, ``perturbations_per_eval``), calibration
state, kernel backends and thread counts whenever the model's outputs are batch-invariant
(:class:`RowwiseNet`); with an ordinary model (Linear layers, whose GEMM may round
differently at another batch size) the results agree to the stated tolerance."""
import contextlib
import copy
import warnings

import pytest
import torch

from fastxai import backends
from torch.utils.data import DataLoader, TensorDataset

from fastxai.attr import (
    RISE,
    DataLoaderAttribution,
    FeatureAblation,
    FeaturePermutation,
    GradientShap,
    IntegratedGradients,
    KernelShap,
    Lime,
    LinearSurrogate,
    NoiseTunnel,
    Occlusion,
    RidgeSurrogate,
    ShapleyValues,
    ShapleyValueSampling,
)
from fastxai.engine.batching import clear_cache
from tests.attr.models import MLP, RowwiseNet, make

N, F = 3, 8
MASK = torch.tensor([[0, 0, 1, 1, 2, 3, 3, 4]])


def _methods(net):
    """name -> (call(max_batch, ppe) -> attributions). ``ppe`` only where Captum has it."""
    ig = IntegratedGradients(net)
    return {
        "FeatureAblation": lambda x, mb, ppe: FeatureAblation(net).attribute(
            x, target=0, feature_mask=MASK, max_batch=mb, perturbations_per_eval=ppe),
        "Occlusion": lambda x, mb, ppe: Occlusion(net).attribute(
            x, (3,), strides=(2,), target=1, max_batch=mb, perturbations_per_eval=ppe),
        "FeaturePermutation": lambda x, mb, ppe: FeaturePermutation(net).attribute(
            x, target=0, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "RISE": lambda x, mb, ppe: RISE(net).attribute(
            x, target=2, n_masks=37, grid_size=3, seed=3, max_batch=mb),
        "ShapleyValueSampling": lambda x, mb, ppe: ShapleyValueSampling(net).attribute(
            x, target=0, n_samples=5, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "ShapleyValues": lambda x, mb, ppe: ShapleyValues(net).attribute(
            x, target=1, feature_mask=MASK, max_batch=mb, perturbations_per_eval=ppe),
        "KernelShap": lambda x, mb, ppe: KernelShap(net).attribute(
            x, target=0, n_samples=40, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "KernelShap-float32-fit": lambda x, mb, ppe: KernelShap(copy.deepcopy(net).float()).attribute(
            x.float(), target=0, n_samples=40, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "Lime": lambda x, mb, ppe: Lime(net).attribute(
            x, target=0, n_samples=40, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "Lime-ridge": lambda x, mb, ppe: Lime(net, interpretable_model=RidgeSurrogate(0.5)).attribute(
            x, target=0, n_samples=40, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "Lime-linear": lambda x, mb, ppe: Lime(net, interpretable_model=LinearSurrogate()).attribute(
            x, target=0, n_samples=40, seed=3, max_batch=mb, perturbations_per_eval=ppe),
        "DataLoaderAttribution": lambda x, mb, ppe: DataLoaderAttribution(FeatureAblation(net)).attribute(
            DataLoader(TensorDataset(x), batch_size=2), feature_mask=MASK, to_metric=lambda a: a.sum(0),
            max_batch=mb, perturbations_per_pass=ppe or 3, return_input_shape=False),
        "IntegratedGradients": lambda x, mb, ppe: ig.attribute(
            x, target=0, n_steps=23, max_batch=mb),
        "GradientShap": lambda x, mb, ppe: GradientShap(net).attribute(
            x, torch.zeros(4, F, dtype=x.dtype), n_samples=9, stdevs=0.1, target=0, seed=3,
            max_batch=mb),
        "NoiseTunnel(IG)": lambda x, mb, ppe: NoiseTunnel(ig).attribute(
            x, nt_type="vargrad", nt_samples=3, nt_samples_batch_size=1, stdevs=0.1, seed=3,
            target=0, n_steps=7, max_batch=mb),
    }


METHODS = list(_methods(None))


@contextlib.contextmanager
def _threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _variants():
    """(label, context, max_batch, ppe): chunkings, backends, thread counts, cold calibration."""
    return [
        ("max_batch=N", contextlib.nullcontext, N, None),
        ("max_batch=2N+1", contextlib.nullcontext, 2 * N + 1, None),
        ("ppe=1", contextlib.nullcontext, None, 1),
        ("torch backend", lambda: backends.use_backend("torch"), None, None),
        ("cpp backend", lambda: backends.use_backend("cpp"), 5 * N, None),
        ("1 thread", lambda: _threads(1), None, None),
        ("2 threads", lambda: _threads(2), 4 * N, None),
    ]


def _run(name, net, x, mb=None, ppe=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under-determined fits, unused-feature notes
        out = _methods(net)[name](x, mb, ppe)
    return out.detach()


@pytest.mark.parametrize("name", METHODS)
def test_bit_identical_with_a_batch_invariant_model(name):
    net = RowwiseNet(F)
    x = torch.randn(N, F, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    clear_cache()
    ref = _run(name, net, x)  # cold calibration
    assert torch.equal(ref, _run(name, net, x)), "second call (warm calibration) differs"
    for label, ctx, mb, ppe in _variants():
        if ppe is not None and name in ("RISE", "IntegratedGradients", "GradientShap", "NoiseTunnel(IG)"):
            continue
        with ctx():
            got = _run(name, net, x, mb, ppe)
        assert torch.equal(ref, got), f"{name}: {label} changed the result by {float((ref - got).abs().max())}"


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_within_tolerance_with_an_ordinary_model(name, dtype):
    """Linear layers round differently at another batch size, so only the model's own
    rounding (amplified by a surrogate fit's conditioning for Lime / KernelShap) remains:
    float64 within 1e-9, float32 within 1e-3 of the largest attribution."""
    net = make(MLP(F, 3), dtype)
    x = torch.randn(N, F, generator=torch.Generator().manual_seed(1)).to(dtype)
    ref = _run(name, net, x)
    tol = 1e-9 if ref.dtype == torch.float64 else 1e-3
    for label, ctx, mb, ppe in _variants()[:3]:
        if ppe is not None and name in ("RISE", "IntegratedGradients", "GradientShap", "NoiseTunnel(IG)"):
            continue
        with ctx():
            got = _run(name, net, x, mb, ppe)
        scale = max(1.0, float(ref.abs().max()))
        assert float((ref.double() - got.double()).abs().max()) <= tol * scale, (name, label)
