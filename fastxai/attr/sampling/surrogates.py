"""The batched surrogates Lime and KernelShap fit, one per example, all at once on the device
(:mod:`fastxai.engine.surrogate`). Pass one as ``interpretable_model``; any Captum ``Model``
(e.g. ``SkLearnLasso``) works too, fitted per example as in Captum."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine import surrogate


class LassoSurrogate:
    """Batched on-device Lasso (sklearn ``Lasso(alpha)`` objective with sample weights)."""

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = alpha

    def solve(self, X: Tensor, y: Tensor, w: Tensor, **_: Any) -> Tensor:
        """X (B, S, M), y (B, S), w (B, S) -> coefficients (B, M) float64."""
        return surrogate.lasso(X, y, w, alpha=self.alpha)[0]


class RidgeSurrogate:
    """Closed-form batched ridge (sklearn ``Ridge(alpha)`` with sample weights)."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def solve(self, X: Tensor, y: Tensor, w: Tensor, **_: Any) -> Tensor:
        """X (B, S, M), y (B, S), w (B, S) -> coefficients (B, M) float64."""
        return surrogate.ridge(X, y, w, alpha=self.alpha)[0]


class LinearSurrogate:
    """Batched weighted least squares (sklearn ``LinearRegression``); ``efficiency`` =
    (f_empty, f_full) per problem for the exactly efficiency-constrained fit.

    ``precision="auto"`` fits in the model output's precision: float32 outputs are fitted as
    scikit-learn fits Captum's float32 data (what ``SkLearnLinearRegression`` computes, to
    float32 round-off), float64 outputs in float64. ``"float64"`` always solves accurately.
    """

    def __init__(self, precision: str = "auto") -> None:
        if precision not in ("auto", "float32", "float64"):
            raise InputError(f"precision must be 'auto', 'float32' or 'float64', got {precision!r}")
        self.precision = precision

    def solve(self, X: Tensor, y: Tensor, w: Tensor, efficiency: Any = None,
              dtype: torch.dtype = torch.float64, **_: Any) -> Tensor:
        """X (B, S, M), y (B, S), w (B, S) -> coefficients (B, M) float64; ``dtype``: the
        model output's dtype (for ``precision="auto"``)."""
        single = self.precision == "float32" or (self.precision == "auto" and dtype != torch.float64)
        prec = torch.float32 if single else torch.float64
        return surrogate.weighted_least_squares(X, y, w, efficiency=efficiency, precision=prec)[0]
