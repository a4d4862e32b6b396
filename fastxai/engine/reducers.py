"""Reducers: how the model's outputs become attributions, as reusable engine parts.

A reducer has ``update(p0, p1, outputs)`` with ``outputs`` (p1 - p0, O) target-selected model
values (O = N, N·K for K targets, or 1 for a forward returning one value per batch). A
reducer that needs nothing but the outputs sets ``deferred = True`` and gets one
``update(0, P, outputs)`` at the end. A reducer that needs what the plan built with the rows
(:class:`~fastxai.engine.perturb.Built`) sets ``wants_extra = True`` and gets it as a fourth
argument; a reducer never reads plan state. Every reduction is fixed-order
(:mod:`fastxai.engine.ordered`).

* :class:`DifferenceReducer` -- ``f(x) - f(perturbed)`` per perturbation, an (O, P) table
  (dtype rules: :func:`difference_dtype`, :func:`output_dtype`)
* :class:`OutputStore` -- every output, (P, O)
* :class:`MaskWeightedSum` -- Σ_p outputs[p]ᵀ · masks[p] (RISE)
* :class:`PrefixCredits` -- Shapley value sampling: each order's marginal contributions
* :func:`shapley_from_coalition_values` -- exact Shapley values from all 2^M coalitions
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from fastxai.engine.ordered import fixed_order_sum, ordered_add


def output_dtype(initial: Tensor) -> torch.dtype:
    """Attributions take the model output's dtype (Captum's rule); integer outputs -> float."""
    return initial.dtype if initial.is_floating_point() else torch.get_default_dtype()


def difference_dtype(initial: Tensor) -> torch.dtype:
    """dtype of ``f(x) - f(perturbed x)`` attributions (FeatureAblation, FeaturePermutation).

    Captum keeps the output's dtype here, integers included (an int64 model or a forward
    returning a Python int gives int64 attributions), so a drop-in must too. Only bool
    outputs, which cannot be subtracted, fall back to the default float dtype.
    """
    if initial.is_floating_point() or initial.is_complex():
        return initial.dtype
    return torch.get_default_dtype() if initial.dtype == torch.bool else initial.dtype


class DifferenceReducer:
    """(O, P) table of ``initial - outputs[p]`` on the device, in ``dtype``."""

    deferred = True  # needs only the outputs: the engine hands them over in one update

    def __init__(self, initial: Tensor, n_perturbations: int, dtype: torch.dtype) -> None:
        self.initial = initial.reshape(1, -1).to(dtype)
        self.table = torch.zeros((self.initial.shape[1], n_perturbations), dtype=dtype, device=initial.device)

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        self.table[:, p0:p1] = (self.initial - outputs.to(self.table.dtype)).T


class OutputStore:
    """Keeps every target output: ``values`` is (P, O) (empty (0, O) when P = 0)."""

    deferred = True

    def __init__(self, n_perturbations: int, initial: Optional[Tensor] = None) -> None:
        self.n_perturbations = n_perturbations
        self.values: Optional[Tensor] = None
        if initial is not None and n_perturbations == 0:
            self.values = torch.empty(0, initial.numel(), dtype=initial.dtype, device=initial.device)

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        if self.values is None and (p0, p1) == (0, self.n_perturbations):
            self.values = outputs
            return
        if self.values is None:
            self.values = torch.empty((self.n_perturbations,) + tuple(outputs.shape[1:]),
                                      dtype=outputs.dtype, device=outputs.device)
        self.values[p0:p1] = outputs


class MaskWeightedSum:
    """``sums (O, E) += Σ_p outputs[p]ᵀ · masks[p]`` in float64, one mask at a time in mask
    order, so the result does not depend on how the engine chunked the masks. The masks
    (K, *S) arrive with the rows (``extra``)."""

    wants_extra = True

    def __init__(self, n_out: int, numel: int, device: torch.device) -> None:
        self.sums = torch.zeros((n_out, numel), dtype=torch.float64, device=device)

    def update(self, p0: int, p1: int, outputs: Tensor, masks: Tensor) -> None:
        ordered_add(self.sums, outputs, masks.reshape(p1 - p0, -1))


class PrefixCredits:
    """Shapley value sampling over S feature orders: perturbation ``s·M + i`` is the prefix
    of order s holding its first i + 1 features, so feature ``perms[s, i]`` is credited
    ``f(prefix_{i+1}) - f(prefix_i)`` (prefix_0 = baseline). ``values`` (M, O): the credits
    averaged over orders, added one order at a time in order (Captum's accumulation)."""

    deferred = True

    def __init__(self, perms: Tensor, initial: Tensor) -> None:
        self.perms, self.initial = perms, initial
        self.values: Optional[Tensor] = None

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        s, m = self.perms.shape
        o = self.initial.numel()
        out = outputs.reshape(s, m, o)
        prev = torch.cat([self.initial.reshape(1, 1, o).expand(s, 1, o).to(out), out[:, :-1]], 1)
        acc_dtype = torch.float64 if out.dtype == torch.float64 else torch.float32
        # each order credits every feature once: place the credits by feature (a copy), then
        # add the orders with elementwise adds (index_add_ / sum pick their order by threads)
        credit = torch.empty(s, m, o, dtype=acc_dtype, device=out.device)
        credit.scatter_(1, self.perms.unsqueeze(-1).expand(s, m, o), (out - prev).to(acc_dtype))
        total = credit[0].clone()
        for k in range(1, s):
            total.add_(credit[k])
        self.values = total / s


def shapley_from_coalition_values(f: Tensor, m: int) -> Tensor:
    """Exact Shapley values from all coalition values.

    f: (2^M, O), row p = value of the coalition whose bit j says feature j is on.
    Returns (M, O): ``phi_j = sum_{T not containing j} |T|!(M-|T|-1)!/M! (f(T+j) - f(T))``,
    each sum a fixed pairwise tree.
    """
    p = torch.arange(2 ** m, device=f.device)
    size = torch.zeros_like(p)
    for j in range(m):
        size += (p >> j) & 1
    w = torch.tensor([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                      for s in range(m)] + [0.0], dtype=f.dtype, device=f.device)
    phi = torch.empty(m, f.shape[1], dtype=f.dtype, device=f.device)
    for j in range(m):
        without = p[((p >> j) & 1) == 0]
        phi[j] = fixed_order_sum(w[size[without]][:, None] * (f[without | (1 << j)] - f[without]))
    return phi
