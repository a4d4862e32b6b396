"""fastxai.ops.coalitions: torch reference vs C++ vs Triton (interpreter), bit for bit."""
import textwrap

import pytest
import torch

from fastxai import _ext, backends
from fastxai.ops import coalitions as C
from fastxai.ops.philox import reference_philox_uniform
from tests.triton_interp import run_interpreted

SHAPES = [(1, 1), (3, 7), (5, 37), (2, 1030), (0, 5), (4, 0)]


def test_reference_matches_philox_counters():
    s = torch.tensor([0, 3, 9]); e = torch.tensor([1, 0, 2])
    keys = C.reference_coalition_keys(11, s, e, 6, stream=2)
    for r in range(3):
        for j in range(6):
            want = reference_philox_uniform(11, torch.tensor(j), int(s[r]), int(e[r]), 2)
            assert keys[r, j] == want


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
@pytest.mark.parametrize("rows,m", SHAPES)
def test_cpp_matches_reference(rows, m):
    s = torch.arange(rows) * 7 + 2**33  # counters taken mod 2**32
    e = torch.arange(rows) % 3
    ref = C.reference_coalition_keys(2**40 + 5, s, e, m)
    with backends.use_backend("cpp"):
        got = C.coalition_keys(2**40 + 5, s, e, m)
        mask = C.bernoulli_coalitions(2**40 + 5, s, e, m, p=0.3)
        assert backends.last_backend["coalitions"] == "cpp"
    assert got.dtype == torch.float32 and got.shape == (rows, m)
    assert torch.equal(got, ref)
    assert torch.equal(mask, ref < 0.3)


@pytest.mark.skipif(not _ext.HAS_CPP, reason="fastxai._C not built")
def test_derived_samplers_backend_invariant():
    s = torch.arange(50)
    e = torch.arange(50) % 4
    out = {}
    for be in ("torch", "cpp"):
        with backends.use_backend(be):
            out[be] = (C.shapley_kernel_coalitions(3, s, e, 11), C.permutations(3, s, 11, e))
    assert torch.equal(out["torch"][0], out["cpp"][0]) and torch.equal(out["torch"][1], out["cpp"][1])


def test_chunk_invariance_and_stats():
    s = torch.arange(4000)
    full = C.bernoulli_coalitions(1, s, None, 16)
    part = torch.cat([C.bernoulli_coalitions(1, s[i:i + 333], None, 16) for i in range(0, 4000, 333)])
    assert torch.equal(full, part)
    assert abs(full.float().mean().item() - 0.5) < 0.01


def test_shapley_kernel_sizes_follow_the_kernel():
    m = 8
    z = C.shapley_kernel_coalitions(3, torch.arange(40000), None, m)
    k = z.sum(1)
    assert int(k.min()) >= 1 and int(k.max()) <= m - 1
    freq = torch.bincount(k, minlength=m)[1:m].double() / k.numel()
    want = C.shapley_kernel_size_cdf(m).diff(prepend=torch.zeros(1, dtype=torch.float64))
    assert torch.allclose(freq, want, atol=0.01)
    # within a size, every feature equally likely
    assert torch.allclose(z.double().mean(0), torch.full((m,), 0.5, dtype=torch.float64), atol=0.02)


def test_permutations_are_permutations():
    p = C.permutations(9, torch.arange(50), 13)
    assert torch.equal(p.sort(1).values, torch.arange(13).expand(50, 13))
    assert not torch.equal(p[0], p[1])


_TRITON_SCRIPT = textwrap.dedent(
    """
    import torch
    from fastxai import backends
    from fastxai.ops import coalitions as C
    for rows, m in [(1, 1), (3, 7), (5, 37), (2, 1030), (0, 5)]:
        s = torch.arange(rows) * 5 + 1
        e = torch.arange(rows) % 2
        ref = C.reference_coalition_keys(77, s, e, m, stream=1)
        with backends.use_backend("triton"):
            got = C.coalition_keys(77, s, e, m, stream=1)
            mask = C.bernoulli_coalitions(77, s, e, m, p=0.5, stream=1)
            assert backends.last_backend["coalitions"] == "triton"
        assert torch.equal(got, ref), (rows, m)
        assert torch.equal(mask, ref < 0.5), (rows, m)
    s = torch.arange(30)
    with backends.use_backend("torch"):
        ref_z, ref_p = C.shapley_kernel_coalitions(5, s, s % 3, 9), C.permutations(5, s, 9)
    with backends.use_backend("triton"):
        assert torch.equal(C.shapley_kernel_coalitions(5, s, s % 3, 9), ref_z)
        assert torch.equal(C.permutations(5, s, 9), ref_p)
    print("OK")
    """
)


@pytest.mark.skipif(not backends.triton_available(), reason="triton not installed")
def test_triton_interpreter_matches_reference():
    assert "OK" in run_interpreted(_TRITON_SCRIPT)


def test_kernel_coalitions_are_the_first_k_of_a_stable_argsort_even_with_tied_keys(monkeypatch):
    import fastxai.ops.coalitions as C

    s = torch.arange(3000)
    e = torch.zeros(3000, dtype=torch.long)
    orig = C.coalition_keys
    for quantise in (None, 8.0):  # real keys, then keys with heavy ties
        if quantise is not None:
            monkeypatch.setattr(C, "coalition_keys", lambda *a, **k: (orig(*a, **k) * quantise).floor() / quantise)
        z = C.shapley_kernel_coalitions(0, s, e, 40)
        keys = C.coalition_keys(0, s, e, 40)
        u = C.coalition_keys(0, s, e, 1, C.STREAM_SIZE)[:, 0]
        k = torch.searchsorted(C.shapley_kernel_size_cdf(40), u.double(), right=True).clamp_(max=38) + 1
        order = keys.argsort(dim=1, stable=True)
        want = torch.zeros(3000, 40, dtype=torch.bool).scatter_(1, order, torch.arange(40)[None] < k[:, None])
        assert torch.equal(z, want)
        assert torch.equal(z.sum(1), k)
