"""The trivial baselines: centre prior, per-sample seeded noise, Sobel edges."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fastxai.bench.baselines import centre_prior, sobel_edges, uniform_random


def test_centre_prior_is_centred_and_symmetric():
    m = centre_prior(torch.zeros(2, 1, 8, 10), ["a", "b"])
    assert m.shape == (2, 8, 10) and torch.equal(m[0], m[1])
    assert torch.equal(m[0], m[0].flip(0)) and torch.equal(m[0], m[0].flip(1))
    assert m[0, 3:5, 4:6].min() == m[0].max()


def test_random_depends_on_sample_id_not_batch():
    x = torch.zeros(3, 1, 6, 6)
    full = uniform_random(x, ["a", "b", "c"], seed=1)
    alone = uniform_random(x[:1], ["b"], seed=1)
    assert torch.equal(full[1], alone[0]) and not torch.equal(full[0], full[1])
    assert not torch.equal(uniform_random(x[:1], ["b"], seed=2)[0], alone[0])


def test_edges_is_sobel_magnitude():
    x = torch.zeros(1, 1, 6, 6)
    x[..., 3:] = 1.0
    e = sobel_edges(x, ["a"])
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kx.view(1, 1, 3, 3))[0, 0].abs()
    assert torch.allclose(e[0], ref) and float(e[0, 2, 2]) == 4.0 and float(e[0, 2, 0]) == 0.0
