"""Batched surrogate fits on the device: one linear model per example, all examples at once.

Every solver takes interpretable samples ``X: (B, S, M)`` (B independent problems, S samples,
M features), targets ``y: (B, S)`` and optional sample weights ``w: (B, S)`` and returns
``(coef (B, M), intercept (B,))``. They reproduce scikit-learn's estimators (the ones Captum's
Lime / KernelShap call one example at a time on the CPU):

* :func:`weighted_least_squares` = ``LinearRegression().fit(X, y, sample_weight=w)``: weighted
  centring, then the minimum-norm least-squares solution (also when S < M + 1, with a warning
  naming the minimum number of samples); optionally with an exact efficiency constraint
  (intercept fixed to f(baseline), coefficients summing to f(x) - f(baseline)).
* :func:`lasso` = ``Lasso(alpha).fit(X, y, sample_weight=w)``: same objective
  ``1/(2 sum w) * sum w (y - X b - c)^2 + alpha * |b|_1``, solved by FISTA with restarts.
* :func:`ridge` = ``Ridge(alpha).fit(X, y, sample_weight=w)``: closed form.

Computation runs in float64 (the KernelShap weights span 1e6), chunked over B to bound memory.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

_CHUNK_BYTES = 256 * 2**20  # float64 working set per chunk of problems


def _prep(X: Tensor, y: Tensor, w: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    if X.dim() != 3:
        raise ValueError(f"X must be (B, S, M), got shape {tuple(X.shape)}")
    B, S, _ = X.shape
    if y.shape != (B, S):
        raise ValueError(f"y must be (B, S) = {(B, S)}, got {tuple(y.shape)}")
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    if w is None:
        w = torch.ones(B, S, dtype=torch.float64, device=X.device)
    else:
        if w.shape != (B, S):
            raise ValueError(f"w must be (B, S) = {(B, S)}, got {tuple(w.shape)}")
        w = w.to(device=X.device, dtype=torch.float64)
    return X, y, w


def _center(X: Tensor, y: Tensor, w: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Weighted means (sklearn's ``_preprocess_data``): returns Xc, yc, x_mean (B,M), y_mean (B,)."""
    wn = w / w.sum(dim=1, keepdim=True)
    x_mean = torch.einsum("bs,bsm->bm", wn, X)
    y_mean = (wn * y).sum(dim=1)
    return X - x_mean[:, None, :], y - y_mean[:, None], x_mean, y_mean


def _chunks(B: int, S: int, M: int):
    per = max(1, _CHUNK_BYTES // max(1, 8 * S * (M + 2) * 3))
    for b0 in range(0, B, per):
        yield b0, min(B, b0 + per)


_CHOLESKY_OK = 1e-3  # smallest / largest Cholesky pivot of AᵀA for the refined normal equations
# scikit-learn's LinearRegression (>= 1.9) passes its ``tol=1e-6`` to scipy.linalg.lstsq as
# ``cond``: singular values below 1e-6 * the largest are treated as zero.
SKLEARN_RCOND = 1e-6


def _no_truncation(L: Tensor, info: Tensor, cutoff: float) -> Tensor:
    """(B,) bool: provably no singular value of A lies below ``cutoff * sigma_max``.

    With AᵀA = L Lᵀ, sigma_max(A) <= ||L||_F and 1 / sigma_min(A) <= ||L⁻¹||_F, so
    1 / (||L||_F ||L⁻¹||_F) is a lower bound on sigma_min / sigma_max (pessimistic by at most
    a factor M). Where it clears the cutoff, the solution is unique and any stable solver
    gives the truncated-SVD (gelsd) answer. The Gram matrix only resolves singular value
    ratios above ~sqrt(M eps) (a rank-deficient A still factors, with pivots of that size),
    so the bound must also clear 10 sqrt(M eps).
    """
    eye = torch.eye(L.shape[-1], dtype=L.dtype, device=L.device).expand_as(L)
    ok = info == 0
    safe = torch.where(ok[:, None, None], L, eye)
    inv = torch.linalg.solve_triangular(safe, eye, upper=False)
    bound = 1.0 / (torch.linalg.matrix_norm(safe) * torch.linalg.matrix_norm(inv))
    floor = 10.0 * (L.shape[-1] * torch.finfo(L.dtype).eps) ** 0.5
    return ok & (bound > max(cutoff, floor))


def min_norm_lstsq(A: Tensor, b: Tensor, method: str = "auto", rcond: Optional[float] = None) -> Tensor:
    """Minimum-norm least squares ``argmin ||A x - b||`` (LAPACK gelsd semantics), batched.

    A: (B, S, M), b: (B, S) -> x: (B, M). Singular values below ``rcond * sigma_max`` count
    as zero (``rcond=None``: LAPACK's ``eps * max(S, M)``; :data:`SKLEARN_RCOND` gives
    scikit-learn's LinearRegression). ``method="auto"``: on CPU, over-determined problems
    that provably have no singular value under the cutoff (:func:`_no_truncation`; their
    solution is unique) are solved by the normal equations with one refinement step when
    well conditioned (Cholesky pivot ratio > 1e-3), else by LAPACK ``gels`` (QR); the rest,
    and under-determined problems, by the SVD-based ``gelsd`` that scikit-learn uses;
    elsewhere (CUDA has neither) by an SVD pseudo-inverse with the same cutoff. ``"gelsd"`` /
    ``"gels"`` / ``"svd"`` force one. (``gelsy`` is not used: its results vary in the last
    bit from call to call on identical inputs.)
    """
    if method not in ("auto", "gelsd", "gels", "svd"):
        raise ValueError(f"method must be auto, gelsd, gels or svd, got {method!r}")
    cutoff = rcond if rcond is not None else torch.finfo(A.dtype).eps * max(A.shape[-2:])
    if method == "auto" and A.device.type == "cpu":
        if A.shape[-2] < A.shape[-1]:
            method = "gelsd"  # under-determined: never unique, the SVD decides the minimum norm
        else:
            return _tiered_lstsq(A, b, cutoff)
    if method in ("gelsd", "gels"):
        return torch.linalg.lstsq(A, b.unsqueeze(-1), rcond=cutoff, driver=method).solution.squeeze(-1)
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)
    inv = torch.where(s > cutoff * s[..., :1], 1.0 / s, torch.zeros_like(s))
    return torch.einsum("bkm,bk,bsk,bs->bm", Vh, inv, U, b)


def _tiered_lstsq(A: Tensor, b: Tensor, cutoff: float) -> Tensor:
    """Over-determined CPU problems by tier (see :func:`min_norm_lstsq`)."""
    # The Gram matrix's Cholesky factor decides: its pivots' smallest / largest ratio (an
    # upper bound on 1 / condition) picks the refined normal equations (~10x cheaper than QR
    # on KernelShap's 512 x 41 systems) or QR; its norms prove that no singular value falls
    # under the cutoff, else the truncated SVD (gelsd) is the only right answer.
    At = A.transpose(-1, -2)
    L, info = torch.linalg.cholesky_ex(At @ A)
    d = L.diagonal(dim1=-2, dim2=-1)
    ratio = torch.where(info == 0, d.amin(-1) / d.amax(-1), torch.zeros_like(d[..., 0]))
    unique = _no_truncation(L, info, cutoff)
    tiers = (unique & (ratio > _CHOLESKY_OK), unique & (ratio <= _CHOLESKY_OK), ~unique)
    x = torch.empty(A.shape[:-2] + A.shape[-1:], dtype=A.dtype)
    for tier, sel in enumerate(tiers):
        idx = sel.nonzero().flatten()
        if idx.numel() == 0:
            continue
        whole = idx.numel() == sel.numel()
        Ai, bi = (A, b) if whole else (A[idx], b[idx])
        if tier == 0:
            Li, Ati = (L, At) if whole else (L[idx], At[idx])
            xi = torch.cholesky_solve(Ati @ bi.unsqueeze(-1), Li)
            xi = xi + torch.cholesky_solve(Ati @ (bi.unsqueeze(-1) - Ai @ xi), Li)
            xi = xi.squeeze(-1)
        else:
            drv = "gels" if tier == 1 else "gelsd"
            xi = torch.linalg.lstsq(Ai, bi.unsqueeze(-1), rcond=cutoff, driver=drv).solution.squeeze(-1)
        if whole:
            return xi
        x[idx] = xi
    return x


def _warn_underdetermined(S: int, M: int, fit_intercept: bool, what: str) -> None:
    need = M + (1 if fit_intercept else 0)
    if S < need:
        warnings.warn(
            f"{what}: {S} samples for {M} features is under-determined; returning the "
            f"minimum-norm solution (as scikit-learn does). Use n_samples >= {need} for a "
            "unique fit.",
            UserWarning,
            stacklevel=3,
        )


def weighted_least_squares(
    X: Tensor,
    y: Tensor,
    w: Optional[Tensor] = None,
    fit_intercept: bool = True,
    efficiency: Optional[Tuple[Tensor, Tensor]] = None,
    warn: bool = True,
    rcond: Optional[float] = SKLEARN_RCOND,
    precision: torch.dtype = torch.float64,
) -> Tuple[Tensor, Tensor]:
    """Weighted linear regression for B problems at once (sklearn ``LinearRegression``).

    Args:
        X: (B, S, M) samples; y: (B, S) targets; w: (B, S) non-negative weights (None = 1).
        fit_intercept: centre by the weighted means first (sklearn's default).
        efficiency: optional ``(f_empty (B,), f_full (B,))``: solve instead with the intercept
            fixed to ``f_empty`` and ``coef.sum(-1) == f_full - f_empty`` exactly (KernelSHAP's
            constrained form; the last feature is eliminated, then a min-norm fit).
        warn: warn when S < M + 1 (the minimum-norm solution is returned).
        rcond: singular values below ``rcond * sigma_max`` count as zero (scikit-learn's
            ``tol``, 1e-6; None = LAPACK's eps-based default).
        precision: ``torch.float32`` fits as scikit-learn does on float32 data (what Captum's
            ``SkLearnLinearRegression`` feeds it): centring, weighting and the SVD solve
            (``gelsd``) in float32. On ill-conditioned problems (condition ~1e4, e.g. 196
            features from 256 samples) the float32 solve itself moves the answer by ~1e-2 of
            its maximum, so Captum's numbers can only be matched by solving in float32 too.
            ``torch.float64`` (default) solves accurately.
    Returns:
        coef (B, M) float64, intercept (B,) float64.
    """
    X, y, w = _prep(X, y, w)
    B, S, M = X.shape
    if warn:
        _warn_underdetermined(S, M, fit_intercept and efficiency is None, "weighted_least_squares")
    if precision == torch.float32 and efficiency is None:
        return _float32_least_squares(X, y, w, fit_intercept, rcond)
    coef = torch.empty(B, M, dtype=torch.float64, device=X.device)
    icpt = torch.zeros(B, dtype=torch.float64, device=X.device)
    for b0, b1 in _chunks(B, S, M):
        Xb, yb, wb = X[b0:b1], y[b0:b1], w[b0:b1]
        sw = wb.sqrt()
        if efficiency is not None:
            f0 = efficiency[0].to(X)[b0:b1]
            total = efficiency[1].to(X)[b0:b1] - f0
            # y - f0 - x_M * total = sum_{j<M} (x_j - x_M) b_j
            yr = yb - f0[:, None] - Xb[:, :, -1] * total[:, None]
            Xr = Xb[:, :, :-1] - Xb[:, :, -1:]
            if M > 1:
                br = min_norm_lstsq(Xr * sw[..., None], yr * sw, rcond=rcond)
                last = total - br.sum(dim=1)
                coef[b0:b1] = torch.cat([br, last[:, None]], dim=1)
            else:
                coef[b0:b1] = total[:, None]
            icpt[b0:b1] = f0
            continue
        if fit_intercept:
            Xc, yc, xm, ym = _center(Xb, yb, wb)
        else:
            Xc, yc = Xb, yb
        cb = min_norm_lstsq(Xc * sw[..., None], yc * sw, rcond=rcond)
        coef[b0:b1] = cb
        if fit_intercept:
            icpt[b0:b1] = ym - (xm * cb).sum(dim=1)
    return coef, icpt


def _float32_least_squares(
    X: Tensor, y: Tensor, w: Tensor, fit_intercept: bool, rcond: Optional[float]
) -> Tuple[Tensor, Tensor]:
    """:func:`weighted_least_squares` as scikit-learn computes it on float32 data: weighted
    means, ``sqrt(w)`` rescaling and LAPACK ``gelsd`` (cutoff ``rcond``), all in float32.
    X: (B, S, M), y: (B, S), w: (B, S) float64 -> coef (B, M), intercept (B,) float64."""
    B, S, M = X.shape
    X32, y32, w32 = X.float(), y.float(), w.float()
    coef = torch.empty(B, M, dtype=torch.float64, device=X.device)
    icpt = torch.zeros(B, dtype=torch.float64, device=X.device)
    for b0, b1 in _chunks(B, S, M):
        Xb, yb, wb = X32[b0:b1], y32[b0:b1], w32[b0:b1]
        if fit_intercept:
            total = wb.sum(dim=1, keepdim=True)
            xm = (Xb * wb[..., None]).sum(dim=1) / total
            ym = (yb * wb).sum(dim=1) / total[:, 0]
            Xb, yb = Xb - xm[:, None, :], yb - ym[:, None]
        sw = wb.sqrt()
        cb = min_norm_lstsq(Xb * sw[..., None], yb * sw, method="gelsd", rcond=rcond)
        coef[b0:b1] = cb.to(torch.float64)
        if fit_intercept:
            icpt[b0:b1] = (ym - (xm * cb).sum(dim=1)).to(torch.float64)
    return coef, icpt


def ridge(
    X: Tensor, y: Tensor, w: Optional[Tensor] = None, alpha: float = 1.0, fit_intercept: bool = True
) -> Tuple[Tensor, Tensor]:
    """Closed-form ridge for B problems (sklearn ``Ridge(alpha)``: ``sum w r^2 + alpha |b|^2``).

    X: (B, S, M), y: (B, S), w: (B, S) -> coef (B, M), intercept (B,), float64.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    X, y, w = _prep(X, y, w)
    B, S, M = X.shape
    coef = torch.empty(B, M, dtype=torch.float64, device=X.device)
    icpt = torch.zeros(B, dtype=torch.float64, device=X.device)
    for b0, b1 in _chunks(B, S, M):
        Xb, yb, wb = X[b0:b1], y[b0:b1], w[b0:b1]
        if fit_intercept:
            Xc, yc, xm, ym = _center(Xb, yb, wb)
        else:
            Xc, yc = Xb, yb
        Xw = Xc * wb[..., None]
        if M <= S:
            G = Xw.transpose(1, 2) @ Xc + alpha * torch.eye(M, dtype=X.dtype, device=X.device)
            cb = torch.linalg.solve(G, (Xw.transpose(1, 2) @ yc[..., None])).squeeze(-1)
        else:  # dual form: b = Xc^T W (Xc Xc^T W + alpha I)^-1 y  (S x S system)
            K = Xc @ Xw.transpose(1, 2) + alpha * torch.eye(S, dtype=X.dtype, device=X.device)
            a = torch.linalg.solve(K, yc[..., None]).squeeze(-1)
            cb = torch.einsum("bsm,bs->bm", Xw, a)
        coef[b0:b1] = cb
        if fit_intercept:
            icpt[b0:b1] = ym - (xm * cb).sum(dim=1)
    return coef, icpt


def _soft(z: Tensor, t: Tensor) -> Tensor:
    return torch.sign(z) * torch.clamp(z.abs() - t, min=0.0)


def lasso(
    X: Tensor,
    y: Tensor,
    w: Optional[Tensor] = None,
    alpha: float = 0.01,
    fit_intercept: bool = True,
    max_iter: int = 5000,
    tol: float = 1e-10,
    check_every: int = 25,
) -> Tuple[Tensor, Tensor]:
    """Batched Lasso (sklearn ``Lasso(alpha)`` objective with sample weights), by FISTA.

    Minimises ``1/(2 sum w) * sum_s w_s (y_s - x_s b - c)^2 + alpha * |b|_1`` per problem;
    after weighted centring this is ``1/2 |y~ - X~ b|^2 + alpha |b|_1`` with
    ``X~ = sqrt(w / sum w) * (X - x_mean)``. Accelerated proximal gradient with
    gradient-based restart; stops when the largest coefficient change of a sweep is below
    ``tol * (1 + |b|_max)`` (checked every ``check_every`` iterations, the only host syncs).

    X: (B, S, M), y: (B, S), w: (B, S) -> coef (B, M), intercept (B,), float64.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    X, y, w = _prep(X, y, w)
    B, S, M = X.shape
    coef = torch.zeros(B, M, dtype=torch.float64, device=X.device)
    icpt = torch.zeros(B, dtype=torch.float64, device=X.device)
    for b0, b1 in _chunks(B, S, M):
        Xb, yb, wb = X[b0:b1], y[b0:b1], w[b0:b1]
        if fit_intercept:
            Xc, yc, xm, ym = _center(Xb, yb, wb)
        else:
            Xc, yc = Xb, yb
        sw = (wb / wb.sum(dim=1, keepdim=True)).sqrt()
        A = Xc * sw[..., None]
        t = yc * sw
        use_gram = M <= S
        if use_gram:
            G = A.transpose(1, 2) @ A
            c = torch.einsum("bsm,bs->bm", A, t)
            L = torch.linalg.eigvalsh(G)[:, -1]

            def grad(v: Tensor) -> Tensor:
                return torch.einsum("bij,bj->bi", G, v) - c
        else:
            v = torch.randn(A.shape[0], M, dtype=A.dtype, device=A.device,
                            generator=torch.Generator(device=A.device).manual_seed(0))
            for _ in range(50):  # power iteration for the Lipschitz constant
                v = torch.einsum("bsm,bs->bm", A, torch.einsum("bsm,bm->bs", A, v))
                v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
            L = torch.einsum("bs,bs->b", *(2 * [torch.einsum("bsm,bm->bs", A, v)])) * 1.01

            def grad(v: Tensor) -> Tensor:
                return torch.einsum("bsm,bs->bm", A, torch.einsum("bsm,bm->bs", A, v) - t)

        step = (1.0 / L.clamp_min(1e-300))[:, None]
        thr = alpha * step
        b = torch.zeros(A.shape[0], M, dtype=A.dtype, device=A.device)
        z = b.clone()
        tk = torch.ones(A.shape[0], 1, dtype=A.dtype, device=A.device)
        for it in range(1, max_iter + 1):
            b_new = _soft(z - step * grad(z), thr)
            t_new = 0.5 * (1 + torch.sqrt(1 + 4 * tk * tk))
            # restart momentum where it points uphill (O'Donoghue & Candes)
            up = ((z - b_new) * (b_new - b)).sum(dim=1, keepdim=True) > 0
            t_new = torch.where(up, torch.ones_like(t_new), t_new)
            mom = torch.where(up, torch.zeros_like(tk), (tk - 1) / t_new)
            z = b_new + mom * (b_new - b)
            delta = (b_new - b).abs().amax(dim=1) if it % check_every == 0 else None
            b, tk = b_new, t_new
            if delta is not None and bool((delta <= tol * (1 + b.abs().amax(dim=1))).all()):
                break
        coef[b0:b1] = b
        if fit_intercept:
            icpt[b0:b1] = ym - (xm * b).sum(dim=1)
    return coef, icpt
