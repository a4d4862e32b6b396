"""Deletion/insertion vs a naive per-image loop; sparseness/complexity vs Quantus."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastxai.eval.faithfulness as FF
from fastxai.eval.errors import InputError


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16, 5), torch.nn.Softmax(1))


def _naive_curve(model, x, a, target, step, baseline, insertion):
    n, c, h, w = x.shape
    out = []
    for i in range(n):
        order = torch.sort(a[i].reshape(-1), descending=True, stable=True).indices
        cur = (baseline[i] if insertion else x[i]).clone().reshape(c, -1)
        src = (x[i] if insertion else baseline[i]).reshape(c, -1)
        scores = [model(cur.reshape(1, c, h, w))[0, target[i]].item()]
        for k in range(0, h * w, step):
            idx = order[k:k + step]
            cur[:, idx] = src[:, idx]
            scores.append(model(cur.reshape(1, c, h, w))[0, target[i]].item())
        out.append(scores)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
@pytest.mark.parametrize("max_batch", [3, 1000])
def test_curve_matches_naive_loop(mode, max_batch) -> None:
    model = _model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 7, 9, generator=g)
    a = torch.randint(0, 5, (3, 7, 9), generator=g).float()  # ties
    with torch.no_grad():
        target = model(x).argmax(1)
        base = torch.zeros_like(x) if mode == "deletion" else FF.gaussian_blur(x)
        ref = _naive_curve(model, x, a, target, 10, base, mode == "insertion")
        got = FF.deletion_curve(model, x, a, mode=mode, step=10, max_batch=max_batch)
    assert got.shape == (3, 8)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    auc = FF.curve_auc(got)
    ref_auc = torch.tensor([np.trapezoid(r.numpy(), dx=1 / (r.numel() - 1)) for r in ref], dtype=torch.float64)
    torch.testing.assert_close(auc, ref_auc, rtol=1e-6, atol=1e-7)


def test_deletion_end_is_baseline_and_lerf() -> None:
    model = _model()
    x = torch.rand(2, 3, 5, 5)
    a = torch.rand(2, 3, 5, 5)  # channel-summed
    with torch.no_grad():
        c = FF.deletion_curve(model, x, a, step=7, target=1, baseline=0.5)
        end = model(torch.full_like(x, 0.5))[:, 1]
        start = model(x)[:, 1]
    torch.testing.assert_close(c[:, -1], end.double())
    torch.testing.assert_close(c[:, 0], start.double())
    ranks_l = FF.pixel_ranks(a.sum(1), "least")
    ranks_m = FF.pixel_ranks(-a.sum(1), "most")
    assert torch.equal(ranks_l, ranks_m)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="mismatched"):
        FF.deletion_curve(_model(), torch.rand(2, 3, 5, 5), torch.rand(3, 5, 5))
    a = torch.rand(2, 5, 5)
    a[1, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"attributions.*\[1\]"):
        FF.deletion_curve(_model(), torch.rand(2, 3, 5, 5), a)
    x, a = torch.rand(2, 3, 5, 5), torch.rand(2, 5, 5)
    for kwargs, name in (({"step": 0}, "step"), ({"max_batch": 0}, "max_batch"), ({"step": 2.5}, "step")):
        with pytest.raises(InputError, match=name):
            FF.deletion_curve(_model(), x, a, **kwargs)
    for kwargs, name in (({"n_runs": 1}, "n_runs"), ({"n_runs": 0}, "n_runs"), ({"max_batch": -1}, "max_batch")):
        with pytest.raises(InputError, match=name):
            FF.faithfulness_correlation(_model(), x, a, subset_size=3, **kwargs)


def test_sparseness_complexity_match_quantus() -> None:
    quantus = pytest.importorskip("quantus")
    g = torch.Generator().manual_seed(2)
    a = torch.randn(6, 1, 8, 8, generator=g)
    a[2] = 0.0
    x = np.zeros((6, 1, 8, 8), np.float32)
    y = np.zeros(6, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = np.asarray(quantus.Sparseness(disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=a.numpy()))
        cx = np.asarray(quantus.Complexity(disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=a.numpy()))
    np.testing.assert_allclose(FF.sparseness(a, quantus_compat=True).numpy(), sp, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(FF.complexity(a, quantus_compat=True).numpy(), cx, atol=1e-6, equal_nan=True)


def test_attribution_object_and_explain_func_accepted() -> None:
    ca = pytest.importorskip("captum.attr")
    model = _model()
    x = torch.rand(2, 3, 6, 6)
    sal = ca.Saliency(model)
    with torch.no_grad():
        t = model(x).argmax(1)
    a = sal.attribute(x, target=t).detach()
    ref = FF.deletion_curve(model, x, a, step=9)
    torch.testing.assert_close(FF.deletion_curve(model, x, sal, step=9), ref)

    def explain(model, inputs, targets):
        return ca.Saliency(model).attribute(inputs, target=targets)

    torch.testing.assert_close(FF.deletion_curve(model, x, explain, step=9), ref)


def test_faithfulness_correlation_matches_loop_and_is_chunk_independent() -> None:
    from fastxai.ops.philox import reference_philox_uniform

    model = _model()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 6, 7, generator=g)
    a = torch.randn(3, 6, 7, generator=g)
    t = torch.tensor([0, 2, 4])
    got = FF.faithfulness_correlation(model, x, a, target=t, n_runs=9, subset_size=10, seed=5, max_batch=4)
    again = FF.faithfulness_correlation(model, x, a, target=t, n_runs=9, subset_size=10, seed=5, max_batch=1000)
    torch.testing.assert_close(got, again)
    ref = []
    with torch.no_grad():
        for i in range(3):
            d, s = [], []
            f0 = model(x[i:i + 1])[0, t[i]].item()
            for r in range(9):
                u = reference_philox_uniform(5, torch.arange(42), r, i, FF._FAITH_STREAM)
                idx = torch.topk(u, 10, largest=False).indices
                xp = x[i].clone().reshape(3, -1)
                xp[:, idx] = 0.0
                d.append(f0 - model(xp.reshape(1, 3, 6, 7))[0, t[i]].item())
                s.append(a[i].reshape(-1)[idx].sum().item())
            ref.append(np.corrcoef(d, s)[0, 1])
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)  # float32 model: batched vs single forward
