"""Shared pieces for the sampling-method tests: small models with known Shapley values and a
brute-force Shapley reference (all permutations, independent of fastxai's code), and the
seeded Captum-vs-fastxai comparison the parity tests share."""
import itertools
import math
import warnings

import torch
from torch import nn


def brute_force_shapley(f, x, baseline, mask, m):
    """Exact Shapley values by averaging over all M! orders. f: (R, ...) -> (R,);
    x, baseline: (1, ...); mask: (1, ...) ids 0..M-1. Returns (M,) float64."""
    phi = torch.zeros(m, dtype=torch.float64)
    for perm in itertools.permutations(range(m)):
        on = torch.zeros(m, dtype=torch.bool)
        prev = f(torch.where(on[mask], x, baseline)).double().reshape(())
        for j in perm:
            on[j] = True
            cur = f(torch.where(on[mask], x, baseline)).double().reshape(())
            phi[j] += cur - prev
            prev = cur
    return phi / math.factorial(m)


class Quadratic(nn.Module):
    """f(x) = a.x + sum_{i<j} B_ij x_i x_j + c: only pairwise interactions (antithetic-exact)."""

    def __init__(self, m: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a = torch.randn(m, generator=g, dtype=torch.float64)
        self.B = torch.triu(torch.randn(m, m, generator=g, dtype=torch.float64), diagonal=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        return x @ self.a + torch.einsum("ni,ij,nj->n", x, self.B, x) + 0.5


def tanh_net(f: int = 6, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(f, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    return net.eval()


def captum_pair(cap_cls, fx_cls, model, inputs, quiet: bool = False, **kw):
    """Captum's and fastxai's attributions from the same global seed (1234); ``quiet`` hides warnings."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        torch.manual_seed(1234)
        a = cap_cls(model).attribute(inputs, **kw)
        torch.manual_seed(1234)
        b = fx_cls(model).attribute(inputs, **kw)
    return a, b


def assert_scaled_close(a, b, tol: float) -> None:
    """Same structure and shapes; values within ``tol`` × max(1, max |a|)."""
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        u = torch.as_tensor(u)
        assert u.shape == v.shape, (u.shape, v.shape)
        scale = max(1.0, float(u.abs().max()))
        assert torch.allclose(u.double(), v.double(), atol=tol * scale, rtol=0), (u, v)


def scalar_per_batch_forwards(net: nn.Module) -> dict:
    """Forwards returning one value per batch in each form Captum accepts: a Python float,
    a Python int, a 0-d tensor and a one-element 1-d tensor."""
    return {
        "float": lambda inp: torch.sum(net(inp)).item(),
        "int": lambda inp: int(torch.sum(net(inp)).item()),
        "0d": lambda inp: torch.sum(net(inp)),
        "1d": lambda inp: torch.sum(net(inp)).reshape(1),
    }
