"""Batched surrogate solvers vs scikit-learn (LinearRegression, Lasso, Ridge with sample weights)."""
import warnings

import numpy as np
import pytest
import torch

sklm = pytest.importorskip("sklearn.linear_model")

from fastxai.engine.surrogate import lasso, min_norm_lstsq, ridge, weighted_least_squares


def _problem(b=3, s=120, m=12, seed=0, binary=True):
    g = torch.Generator().manual_seed(seed)
    X = torch.bernoulli(torch.full((b, s, m), 0.5), generator=g) if binary else torch.randn(b, s, m, generator=g)
    coef = torch.randn(b, m, generator=g)
    y = torch.einsum("bsm,bm->bs", X, coef) + 0.5 + 0.3 * torch.randn(b, s, generator=g)
    w = torch.rand(b, s, generator=g) + 0.05
    return X.double(), y.double(), w.double()


def _np(t):
    return t.numpy()


@pytest.mark.parametrize("s,m", [(120, 12), (40, 60)])
def test_wls_matches_sklearn_linear_regression(s, m):
    X, y, w = _problem(s=s, m=m)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        coef, icpt = weighted_least_squares(X, y, w)
    under = [r for r in rec if "under-determined" in str(r.message)]
    assert bool(under) == (s < m + 1)
    if under:
        assert f"n_samples >= {m + 1}" in str(under[0].message)
    for b in range(X.shape[0]):
        sk = sklm.LinearRegression().fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        np.testing.assert_allclose(coef[b].numpy(), sk.coef_, atol=1e-9)
        assert abs(icpt[b].item() - sk.intercept_) < 1e-9


def test_wls_kernel_shap_weights_are_stable():
    X, y, w = _problem(s=60, m=10)
    X[:, 0] = 1.0
    X[:, 1] = 0.0
    w[:, :2] = 1e6
    coef, icpt = weighted_least_squares(X, y, w)
    for b in range(X.shape[0]):
        sk = sklm.LinearRegression().fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        np.testing.assert_allclose(coef[b].numpy(), sk.coef_, rtol=1e-7, atol=1e-7)


def test_wls_efficiency_constraint_is_exact():
    X, y, w = _problem(s=50, m=8)
    f0 = torch.tensor([0.1, -2.0, 3.0], dtype=torch.float64)
    f1 = torch.tensor([1.5, 0.0, -1.0], dtype=torch.float64)
    coef, icpt = weighted_least_squares(X, y, w, efficiency=(f0, f1))
    assert torch.allclose(coef.sum(1), f1 - f0, atol=1e-12)
    assert torch.equal(icpt, f0)
    # it is the constrained optimum: no feasible direction lowers the weighted loss
    def loss(c):
        r = y - f0[:, None] - torch.einsum("bsm,bm->bs", X, c)
        return (w * r * r).sum(1)
    base = loss(coef)
    d = torch.randn(3, 8, dtype=torch.float64)
    d = d - d.mean(1, keepdim=True)  # keeps the sum
    assert bool((loss(coef + 1e-3 * d) >= base - 1e-12).all())


@pytest.mark.parametrize("s,m", [(200, 30), (25, 40)])
def test_lasso_matches_sklearn(s, m):
    X, y, w = _problem(s=s, m=m)
    coef, icpt = lasso(X, y, w, alpha=0.01)
    for b in range(X.shape[0]):
        tight = sklm.Lasso(alpha=0.01, tol=1e-12, max_iter=200000).fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        rel = np.linalg.norm(coef[b].numpy() - tight.coef_) / np.linalg.norm(tight.coef_)
        assert rel < 1e-3, rel
        assert abs(icpt[b].item() - tight.intercept_) < 1e-3 * (1 + abs(tight.intercept_))
        if s < m:  # sklearn's default tol stops far from the optimum here; the tight fit is the anchor
            continue
        default = sklm.Lasso(alpha=0.01).fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        assert np.linalg.norm(coef[b].numpy() - default.coef_) / np.linalg.norm(default.coef_) < 1e-2


def test_lasso_sparsity_and_large_alpha():
    X, y, w = _problem(s=100, m=10)
    coef, icpt = lasso(X, y, w, alpha=100.0)
    assert torch.equal(coef, torch.zeros_like(coef))
    wn = w / w.sum(1, keepdim=True)
    assert torch.allclose(icpt, (wn * y).sum(1))


@pytest.mark.parametrize("s,m", [(80, 10), (15, 40)])
def test_ridge_matches_sklearn(s, m):
    X, y, w = _problem(s=s, m=m, binary=False)
    coef, icpt = ridge(X, y, w, alpha=2.0)
    for b in range(X.shape[0]):
        sk = sklm.Ridge(alpha=2.0).fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        np.testing.assert_allclose(coef[b].numpy(), sk.coef_, atol=1e-9)
        assert abs(icpt[b].item() - sk.intercept_) < 1e-9


def test_min_norm_lstsq_svd_path_matches_gelsd():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(2, 6, 9, generator=g, dtype=torch.float64)
    b = torch.randn(2, 6, generator=g, dtype=torch.float64)
    want = np.stack([np.linalg.pinv(A[i].numpy()) @ b[i].numpy() for i in range(2)])
    for method in ("gelsd", "svd", "auto"):
        np.testing.assert_allclose(min_norm_lstsq(A, b, method=method).numpy(), want, atol=1e-10)
    # rank-deficient (duplicated column): both give the minimum-norm solution
    A2 = torch.cat([A, A[:, :, :1]], dim=2)
    want2 = np.stack([np.linalg.pinv(A2[i].numpy()) @ b[i].numpy() for i in range(2)])
    for method in ("gelsd", "svd", "auto"):
        np.testing.assert_allclose(min_norm_lstsq(A2, b, method=method).numpy(), want2, atol=1e-9)


def test_min_norm_lstsq_auto_over_determined_full_and_deficient_rank():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(3, 20, 5, generator=g, dtype=torch.float64)
    A[1, :, 4] = A[1, :, 0]  # problem 1 has a duplicated column: rank 4
    b = torch.randn(3, 20, generator=g, dtype=torch.float64)
    want = np.stack([np.linalg.pinv(A[i].numpy()) @ b[i].numpy() for i in range(3)])
    for method in ("auto", "gelsd", "gels", "svd"):
        if method == "gels":
            continue  # plain QR is not minimum-norm on the deficient problem
        np.testing.assert_allclose(min_norm_lstsq(A, b, method=method).numpy(), want, atol=1e-10)
    ok = [0, 2]
    np.testing.assert_allclose(min_norm_lstsq(A[ok], b[ok], method="gels").numpy(), want[ok], atol=1e-10)
    # the auto path is deterministic (same bits on repeated calls)
    assert all(torch.equal(min_norm_lstsq(A, b), min_norm_lstsq(A.clone(), b.clone())) for _ in range(5))


def test_bad_shapes_raise():
    X, y, w = _problem()
    with pytest.raises(ValueError, match="y must be"):
        lasso(X, y[:, :-1], w)
    with pytest.raises(ValueError, match="X must be"):
        weighted_least_squares(X[0], y, w)
    with pytest.raises(ValueError, match="alpha"):
        ridge(X, y, w, alpha=-1.0)


def test_min_norm_lstsq_auto_tiers_match_gelsd():
    """One batch holding a well-conditioned problem (refined normal equations), a moderately
    conditioned one (QR), an ill-conditioned one and a rank-deficient one (SVD): all equal
    scikit-learn's gelsd solution."""
    g = torch.Generator().manual_seed(5)
    A = torch.randn(4, 60, 6, generator=g, dtype=torch.float64)
    A[1, :, 5] = A[1, :, 4] + 1e-4 * A[1, :, 5]  # condition ~1e4: QR tier
    A[2, :, 5] = A[2, :, 4] + 1e-9 * A[2, :, 5]  # condition ~1e9: SVD tier
    A[3, :, 5] = A[3, :, 4]                       # rank 5: SVD tier (minimum norm)
    b = torch.randn(4, 60, generator=g, dtype=torch.float64)
    want = torch.linalg.lstsq(A, b.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    got = min_norm_lstsq(A, b)
    for i, tol in enumerate((1e-12, 1e-8, 1e-3, 1e-9)):
        scale = want[i].abs().max().item()
        assert (got[i] - want[i]).abs().max().item() <= tol * max(scale, 1.0), i
    # KernelShap-like weights (two rows weighted 1e6) stay on the fast tier and match too
    X = (torch.rand(512, 41, generator=g) > 0.5).double()
    w = torch.ones(512, dtype=torch.float64)
    w[:2] = 1e6
    Aw, bw = (X * w.sqrt()[:, None])[None], (torch.randn(512, generator=g, dtype=torch.float64) * w.sqrt())[None]
    ref = torch.linalg.lstsq(Aw, bw.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    np.testing.assert_allclose(min_norm_lstsq(Aw, bw).numpy(), ref.numpy(), rtol=1e-10, atol=1e-10)


def test_wls_truncates_like_sklearn_below_its_tol():
    """scikit-learn's LinearRegression drops singular values under tol=1e-6 of the largest:
    a column that is another one plus 1e-8 noise is ignored there, and must be here (a full-
    precision solve would return huge opposite coefficients on the pair)."""
    X, y, w = _problem(s=80, m=6)
    g = torch.Generator().manual_seed(3)
    X[:, :, 5] = X[:, :, 4] + 1e-8 * torch.randn(3, 80, generator=g, dtype=torch.float64)
    coef, icpt = weighted_least_squares(X, y, w)
    for b in range(X.shape[0]):
        sk = sklm.LinearRegression().fit(_np(X[b]), _np(y[b]), sample_weight=_np(w[b]))
        if getattr(sk, "tol", None) != 1e-6:
            pytest.skip("scikit-learn < 1.9 uses another cutoff")
        np.testing.assert_allclose(coef[b].numpy(), sk.coef_, atol=1e-7)
        assert abs(icpt[b].item() - sk.intercept_) < 1e-7
    full = min_norm_lstsq(X * w.sqrt()[..., None], y * w.sqrt())  # LAPACK's eps cutoff
    assert float(full.abs().max()) > 1e3 * float(coef.abs().max())


@pytest.mark.parametrize("s,m", [(256, 196), (512, 64), (30, 40)])
def test_wls_float32_precision_is_sklearn_on_float32_data(s, m):
    """precision=float32 is what Captum's SkLearnLinearRegression computes (float32 data):
    agreement to float32 solver round-off, also where the condition number is ~1e4 (the
    over-determined cases); under-determined, within the answer's float32 sensitivity."""
    g = torch.Generator().manual_seed(4)
    X = (torch.rand(1, s, m, generator=g) > 0.5).double()
    X[0, 0], X[0, 1] = 1.0, 0.0
    w = torch.ones(1, s, dtype=torch.float64)
    w[0, :2] = 1e6
    y = torch.einsum("bsm,m->bs", X, torch.randn(m, generator=g, dtype=torch.float64)).float().double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coef, _ = weighted_least_squares(X, y, w, precision=torch.float32)
    sk = sklm.LinearRegression().fit(X[0].float().numpy(), y[0].float().numpy(), sample_weight=w[0].float().numpy())
    scale = np.abs(sk.coef_).max()
    gap = np.abs(coef[0].numpy() - sk.coef_).max()
    if s > m:
        assert gap <= 5e-3 * scale
    else:
        # under-determined (min-norm): the float32 answer moves with the LAPACK build's
        # round-off (scipy's and torch's gelsd differ here); bound it by how far scikit-learn's
        # own float32 answer lies from the exact (float64) fit
        exact, _ = weighted_least_squares(X, y, w, precision=torch.float64)
        assert gap <= 5 * np.abs(exact[0].numpy() - sk.coef_).max() + 1e-6 * scale


def test_no_truncation_bound_is_a_lower_bound():
    from fastxai.engine.surrogate import _no_truncation

    g = torch.Generator().manual_seed(6)
    A = torch.randn(50, 40, 7, generator=g, dtype=torch.float64)
    A[:, :, 6] = A[:, :, 5] + torch.logspace(-9, -1, 50, dtype=torch.float64)[:, None] * A[:, :, 6]
    L, info = torch.linalg.cholesky_ex(A.transpose(1, 2) @ A)
    sv = torch.linalg.svdvals(A)
    ratio = sv[:, -1] / sv[:, 0]
    proven = _no_truncation(L, info, 1e-6)
    assert bool((ratio[proven] > 1e-6).all())  # never claims uniqueness wrongly
    assert bool(proven[ratio > 1e-3].all())  # and proves it for clearly well-conditioned ones
