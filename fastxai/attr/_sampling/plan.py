"""The engine plug-ins shared by the sampling methods: a coalition plan and an output store.

A *coalition* switches each of the M interpretable features on (input value) or off (baseline
value). :class:`CoalitionPlan` builds, for perturbations ``[p0, p1)``, the model rows
``where(z[p, n][mask], x[n], baseline[n])`` from a coalition callback ``z(p0, p1) -> (k, N|1, M)``
bool, so a method never materialises more than one chunk of perturbed inputs.
:class:`OutputStore` keeps the (P, O) target outputs for the method's own reduction
(differences for Shapley sampling, a surrogate fit for Lime / KernelShap).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.inputs import baseline_tensor
from fastxai._captum.targets import TargetSelector
from fastxai.engine.perturb import EngineOptions, initial_outputs, run_perturbations
from fastxai.ops.ablate import _blend_coalitions

CoalitionFn = Callable[[int, int], Tensor]


class CoalitionPlan:
    """Rows for perturbation p, example n: input where feature z[p, n] is on, else baseline.

    Args:
        n_perturbations: P.
        coalitions: ``(p0, p1) -> (p1 - p0, N|1, M)`` bool (1 = shared by every example).
        masks: per input, (1|N, *S) int64 feature ids.
        baselines: per input, a scalar / tensor broadcastable to the input.
    """

    def __init__(self, n_perturbations: int, coalitions: CoalitionFn,
                 masks: Tuple[Tensor, ...], baselines: Tuple[Any, ...]) -> None:
        self.n_perturbations = n_perturbations
        self.coalitions = coalitions
        self.masks = masks
        self.baselines = baselines
        nonempty = [m for m in masks if m.numel()]
        self._id_range = (min(int(m.min()) for m in nonempty), max(int(m.max()) for m in nonempty)) \
            if nonempty else (0, -1)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        z = self.coalitions(p0, p1)
        lo, hi = self._id_range  # checked here once per chunk on the host, not per kernel call
        if lo < 0 or hi >= z.shape[-1]:
            raise ValueError(f"feature ids [{lo}, {hi}] do not index {z.shape[-1]} coalition features")
        rows = []
        for x, mask, b in zip(inputs, self.masks, self.baselines):
            rows.append(_blend_coalitions(x, baseline_tensor(b, x), mask, z.to(x.device)))
        return tuple(rows)


class OutputStore:
    """Accumulator keeping every target output: ``values`` is (P, O)."""

    deferred = True

    def __init__(self, n_perturbations: int) -> None:
        self.n_perturbations = n_perturbations
        self.values: Optional[Tensor] = None

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        if self.values is None and (p0, p1) == (0, self.n_perturbations):
            self.values = outputs
            return
        if self.values is None:
            self.values = torch.empty((self.n_perturbations,) + tuple(outputs.shape[1:]),
                                      dtype=outputs.dtype, device=outputs.device)
        self.values[p0:p1] = outputs


def evaluate_coalitions(
    forward_func: Callable[..., Any],
    inputs: Tuple[Tensor, ...],
    target: TargetSelector,
    additional_args: Optional[Tuple[Any, ...]],
    plan: CoalitionPlan,
    initial: Tensor,
    options: EngineOptions,
) -> Tensor:
    """Run ``plan`` on the engine; returns the (P, O) target outputs (O = ``initial.numel()``)."""
    store = OutputStore(plan.n_perturbations)
    if plan.n_perturbations:
        run_perturbations(plan, store, forward_func, inputs, target, additional_args, initial, options)
    if store.values is None:
        return torch.empty(0, initial.numel(), dtype=initial.dtype, device=initial.device)
    return store.values


__all__ = ["CoalitionPlan", "OutputStore", "evaluate_coalitions",
           "initial_outputs"]
