"""Captum 0.9's input forms, same numbers as Captum: float feature masks holding integer
ids, and integer inputs with float baselines (the perturbed rows become float, as Captum's
``x·(1 − m) + b·m`` makes them; Captum's Shapley classes fill scalar baselines in the input's
dtype), for the perturbation and sampling methods."""
import warnings

import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

import fastxai.attr as fa  # noqa: E402
from fastxai._captum.errors import InputError  # noqa: E402

MASK = torch.tensor([[0, 0, 1, 1, 2, 2]])


def _model():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 2)
    return lambda x: lin(x.float())  # accepts integer inputs, as an embedding-free tabular model


def _both(name, x, mods=(captum_attr, fa), **kwargs):
    f = _model()
    out = []
    for mod in mods:
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(getattr(mod, name)(f).attribute(x, target=0, **kwargs))
    return out


def _close(got, want, rtol=1e-5):
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), want.double(), rtol=rtol, atol=rtol * float(want.abs().max()))


@pytest.mark.parametrize("name,kwargs", [
    ("FeatureAblation", {}),
    ("FeaturePermutation", {}),
    ("ShapleyValueSampling", dict(n_samples=3)),
    ("ShapleyValues", {}),
])
def test_float_masks_with_integer_ids(name, kwargs):
    x = torch.randn(4, 6)
    want, got = _both(name, x, feature_mask=MASK.float(), **kwargs)
    _close(got, want)
    # the same as the integer mask (to GEMM rounding: calibration may pick another chunk size)
    _close(got, _both(name, x, mods=(fa,), feature_mask=MASK, **kwargs)[0], rtol=1e-6)


@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_float_masks_for_surrogate_methods_equal_integer_masks(name):
    # Captum's Lime / KernelShap index with the mask and fail on a float one; fastxai takes it
    x = torch.randn(3, 6)
    got, = _both(name, x, mods=(fa,), feature_mask=MASK.double(), n_samples=20)
    want, = _both(name, x, mods=(fa,), feature_mask=MASK, n_samples=20)
    _close(got, want, rtol=1e-6)


def test_float_masks_with_fractions_are_refused():
    x = torch.randn(2, 6)
    with pytest.raises(InputError, match=r"feature_mask\[0\].*non-integer"):
        fa.FeatureAblation(_model()).attribute(x, target=0, feature_mask=MASK.float() + 0.5)
    with pytest.raises(InputError, match="non-integer"):
        fa.ShapleyValues(_model()).attribute(x, target=0, feature_mask=torch.full((1, 6), float("nan")))


BASELINES = [0.5, torch.full((1, 6), 0.5), torch.full((1, 6), 1.5, dtype=torch.float64)]


@pytest.mark.parametrize("baselines", BASELINES, ids=["scalar", "float32", "float64"])
@pytest.mark.parametrize("name,kwargs", [
    ("FeatureAblation", {}),
    ("FeatureAblation", dict(feature_mask=MASK, perturbations_per_eval=2)),
    ("Occlusion", dict(sliding_window_shapes=(2,), strides=1)),
    ("ShapleyValueSampling", dict(feature_mask=MASK, n_samples=3)),
    ("ShapleyValues", dict(feature_mask=MASK)),
    ("KernelShap", dict(feature_mask=MASK, n_samples=12)),
    ("Lime", dict(feature_mask=MASK, n_samples=12)),
])
def test_integer_inputs_with_float_baselines(name, kwargs, baselines):
    x = torch.randint(0, 5, (3, 6))
    if name.startswith("Shapley") and isinstance(baselines, torch.Tensor):
        baselines = baselines.expand(3, 6)  # Captum's Shapley wants a per-example baseline here
    want, got = _both(name, x, baselines=baselines, **kwargs)
    _close(got, want, rtol=1e-4 if name == "Lime" else 1e-5)  # Lime: Lasso's tolerance
