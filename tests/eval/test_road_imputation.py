"""Noisy linear imputation vs Quantus 0.6's ``noisy_linear_imputation`` (noise 0), seeded noise, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fastxai.eval.road_imputation as RD
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
    rm = torch.zeros(2, 4, 4, dtype=torch.bool)
    for kwargs, name in (({"max_iter": 0}, "max_iter"), ({"noise": -0.1}, "noise"),
                         ({"noise": float("nan")}, "noise"), ({"tol": 0.0}, "tol")):
        with pytest.raises(InputError, match=name):
            RD.noisy_linear_imputation(x, rm, **kwargs)
