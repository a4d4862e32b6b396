"""ROAD curves vs a naive loop over Quantus' imputer and vs Quantus' ``ROAD`` metric; seeded noise; tie
rule; ROADCombined. (The imputation itself: tests/eval/test_road_imputation.py.)"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastxai.eval as fe
import fastxai.eval.road as RD
from fastxai.eval.errors import InputError

pf = pytest.importorskip("quantus.functions.perturb_func")
quantus_impute = pf.noisy_linear_imputation


def _model(c: int = 3, k: int = 4):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(c, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16, k), torch.nn.Softmax(1)).eval()


def _naive_curve(model, x, a, target, percentages, order):
    """Per image and percentage: stable order (ties by lowest index), Quantus' imputer with noise 0."""
    n, c, h, w = x.shape
    correct, score = np.zeros((n, len(percentages)), bool), np.zeros((n, len(percentages)))
    for i in range(n):
        flat = a[i].reshape(-1)
        idx = torch.sort(flat, descending=(order == "morf"), stable=True).indices.numpy()
        for j, p in enumerate(percentages):
            k = int(h * w * p / 100)
            xi = x[i].numpy()
            xp = quantus_impute(xi, idx[:k], noise=0.0) if k else xi
            out = model(torch.from_numpy(np.ascontiguousarray(xp))[None])[0]
            correct[i, j] = int(out.argmax()) == int(target[i])
            score[i, j] = float(out[target[i]])
    return correct, score


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_curve_matches_naive_loop_with_quantus_imputer(order) -> None:
    model = _model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 10, 12, generator=g)
    a = torch.randint(0, 4, (3, 10, 12), generator=g).float()  # heavy ties: lowest index first
    pct = (0.5, 10, 33, 50, 90, 99)
    with torch.no_grad():
        target = model(x).argmax(1)
        ref_c, ref_s = _naive_curve(model, x, a, target, pct, order)
        for mb in (1, 7, 1000):
            got = fe.road_curve(model, x, a, percentages=pct, order=order, noise=0.0, max_batch=mb)
            np.testing.assert_array_equal(got.correct.numpy(), ref_c)
            np.testing.assert_allclose(got.score.numpy(), ref_s, atol=1e-5, rtol=0)
    assert got.n_removed == (0, 12, 39, 60, 108, 118)
    np.testing.assert_allclose(got.base_score.numpy(), model(x).gather(1, target[:, None])[:, 0].detach().numpy(),
                               atol=1e-6)
    torch.testing.assert_close(got.score_change, got.score - got.base_score[:, None])


def test_tie_rule_lowest_index_first() -> None:
    """All-equal attributions: MoRF and LeRF both remove pixels 0 .. k-1 (row-major)."""
    model = _model()
    x = torch.rand(2, 3, 6, 8, generator=torch.Generator().manual_seed(2))
    a = torch.ones(2, 6, 8)
    pct = (25, 50)
    with torch.no_grad():
        morf = fe.road_curve(model, x, a, percentages=pct, order="morf", noise=0.0)
        lerf = fe.road_curve(model, x, a, percentages=pct, order="lerf", noise=0.0)
        torch.testing.assert_close(morf.score, lerf.score)
        for j, p in enumerate(pct):
            k = int(48 * p / 100)
            rm = (torch.arange(48) < k).view(1, 6, 8).expand(2, 6, 8)
            imgs = RD.noisy_linear_imputation(x, rm.contiguous())
            ref = model(imgs).gather(1, morf.target[:, None])[:, 0].double()
            torch.testing.assert_close(morf.score[:, j], ref, atol=1e-6, rtol=0)


def test_matches_quantus_road_metric_and_its_first_batch_average() -> None:
    quantus = pytest.importorskip("quantus")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()  # Quantus ROAD needs C = 1
    g = np.random.default_rng(0)
    x = g.random((6, 1, 8, 8)).astype(np.float32)
    a = g.random((6, 1, 8, 8)).astype(np.float32)  # untied (Quantus' argsort is unstable)
    xt = torch.from_numpy(x)
    y = model(xt).argmax(1).numpy()
    pct = [5, 30, 60, 95]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantus.ROAD(noise=0.0, percentages=pct, disable_warnings=True)(
            model=model, x_batch=x, y_batch=y, a_batch=a, batch_size=4, device="cpu")
    with torch.no_grad():
        ours = fe.road_curve(model, xt, torch.from_numpy(a), target=torch.from_numpy(y), percentages=pct, noise=0.0)
    first = ours.correct[:4].double().mean(0).tolist()  # Quantus averages only its first batch (of 4 here)
    assert [q[p] for p in pct] == pytest.approx(first, abs=1e-12)
    assert float(ours.accuracy()[3]) != pytest.approx(q[95])  # the mean over all 6 differs here (0.833 vs 0.75)
    assert list(ours.as_quantus()) == [float(p) for p in pct]


def test_seeded_curve_independent_of_max_batch_and_road_combined() -> None:
    model = _model()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 9, 9, generator=g)
    a = torch.rand(3, 3, 9, 9, generator=g)
    with torch.no_grad():
        c1 = fe.road_curve(model, x, a, percentages=(20, 60), seed=5, max_batch=2)
        c2 = fe.road_curve(model, x, a, percentages=(20, 60), seed=5, max_batch=100)
        torch.testing.assert_close(c1.score, c2.score, atol=1e-6, rtol=0)
        assert not torch.equal(c1.score, fe.road_curve(model, x, a, percentages=(20, 60), seed=6).score)
        comb = fe.road_combined(model, x, a, percentages=(20, 60), seed=5)
        morf = fe.road_curve(model, x, a, percentages=(20, 60), order="morf", seed=5)
        lerf = fe.road_curve(model, x, a, percentages=(20, 60), order="lerf", seed=5)
    ref = (((lerf.score - lerf.base_score[:, None]) - (morf.score - morf.base_score[:, None])) / 2).mean(1)
    torch.testing.assert_close(comb, ref)
    assert comb.shape == (3,)


def test_road_curve_bad_inputs() -> None:
    model = _model()
    x = torch.rand(2, 3, 5, 5)
    a = torch.rand(2, 5, 5)
    with pytest.raises(InputError, match="order"):
        fe.road_curve(model, x, a, order="most")
    with pytest.raises(InputError, match="percentages"):
        fe.road_curve(model, x, a, percentages=(100,))
    with pytest.raises(InputError, match="mismatched number of samples"):
        fe.road_curve(model, x, a[:1])
    b = a.clone()
    b[1, 0, 0] = float("inf")
    with pytest.raises(InputError, match=r"attributions contains NaN or Inf in samples \[1\]"):
        fe.road_curve(model, x, b)
    for kwargs, name in (({"max_batch": 0}, "max_batch"), ({"max_iter": 0}, "max_iter"), ({"noise": -1.0}, "noise")):
        with pytest.raises(InputError, match=name):
            fe.road_curve(model, x, a, **kwargs)
