"""ROAD: the batched imputation vs Quantus 0.6's ``noisy_linear_imputation``; curves vs a naive loop
over Quantus' imputer and vs Quantus' ``ROAD`` metric; seeded noise; tie rule; ROADCombined."""
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


def _masks(h: int, w: int, seed: int) -> list:
    """Removal masks (H*W,) bool of different shapes: random, a blob, a border band, one pixel, 99 %."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    blob = -((yy - 0.4 * h) ** 2 + (xx - 0.6 * w) ** 2) + g.random((h, w))
    out = []
    for frac, score in ((0.3, g.random((h, w))), (0.6, blob), (0.99, blob), (0.25, -yy + 0.01 * xx)):
        k = int(h * w * frac)
        m = np.zeros(h * w, bool)
        m[np.argsort(-score.reshape(-1), kind="stable")[:k]] = True
        out.append(m)
    one = np.zeros(h * w, bool)
    one[(h // 2) * w + w - 1] = True  # a single pixel on the right border
    out.append(one)
    return out


@pytest.mark.parametrize("c,h,w", [(1, 5, 7), (3, 13, 17), (3, 40, 36)])
def test_imputation_equals_quantus_without_noise(c, h, w) -> None:
    g = np.random.default_rng(h)
    masks = _masks(h, w, h)
    imgs = g.normal(size=(len(masks), c, h, w)).astype(np.float32)
    ours = RD.noisy_linear_imputation(torch.from_numpy(imgs), torch.from_numpy(np.stack(masks)).view(-1, h, w))
    for i, m in enumerate(masks):
        ref = quantus_impute(imgs[i], np.flatnonzero(m), noise=0.0)
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(ours[i].numpy().reshape(c, -1)[:, ~m], imgs[i].reshape(c, -1)[:, ~m])


def test_imputation_noise_is_seeded_and_batch_independent() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 24, 20, generator=g)
    rm = torch.rand(4, 24, 20, generator=g) < 0.5
    clean = RD.noisy_linear_imputation(x, rm)
    a = RD.noisy_linear_imputation(x, rm, noise=0.01, seed=3)
    b = RD.noisy_linear_imputation(x, rm, noise=0.01, seed=3)
    assert torch.equal(a, b)
    parts = torch.cat([RD.noisy_linear_imputation(x[i:i + 1], rm[i:i + 1], noise=0.01, seed=3,
                                                  example=torch.tensor([i])) for i in range(4)])
    torch.testing.assert_close(parts, a, atol=1e-6, rtol=0)  # draws keyed by example, not batch position
    assert not torch.equal(a, RD.noisy_linear_imputation(x, rm, noise=0.01, seed=4))
    kept = ~rm[:, None].expand_as(x)
    assert torch.equal(a[kept], x[kept])
    d = (a - clean)[~kept].double()
    assert abs(float(d.mean())) < 1e-3 and float(d.std()) == pytest.approx(0.01, rel=0.05)
    torch.manual_seed(1)
    u1 = RD.noisy_linear_imputation(x, rm, noise=0.01, seed=None)
    torch.manual_seed(1)
    assert torch.equal(u1, RD.noisy_linear_imputation(x, rm, noise=0.01, seed=None))


def test_imputation_rejects_bad_inputs() -> None:
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(InputError, match="every pixel"):
        RD.noisy_linear_imputation(x, torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="remove must be"):
        RD.noisy_linear_imputation(x, torch.zeros(2, 4, 5, dtype=torch.bool))
    y = x.clone()
    y[1, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"images contains NaN or Inf in samples \[1\]"):
        RD.noisy_linear_imputation(y, torch.zeros(2, 4, 4, dtype=torch.bool))


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
