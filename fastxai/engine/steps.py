"""Step plans for the gradient loop: which points are differentiated, step by step.

A plan covers steps ``[0, n_steps)`` of ``rows`` rows each (N, the batch). For steps
``[s0, s1)`` it builds one :class:`Step`: the leaves to differentiate, what the forward is
called with, and the target / additional args of those rows. Row layout inside a chunk is
step-major, as Captum's: row ``(s - s0) * N + n``.

* :class:`SinglePass` -- the inputs themselves, one step (Saliency, layer gradients, ...).
* :class:`PairPass` -- one forward over ``cat([inputs, baselines])`` (DeepLift).
* :class:`PathPlan` -- points ``b + alpha_s (x - b)`` on the straight path (IG and its layer /
  neuron forms, conductance); the leaves may replace a layer's tensors (``model_inputs``).
* :class:`RowPlan` -- every row its own step, target and args given per row (GradientShap's
  noise / baseline / path-point draws).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from fastxai.engine.forward import expand_additional_args, slice_rows
from fastxai.engine.targets import Target, TargetType
from fastxai.ops.ig_path import ig_interpolate

Tensors = Tuple[Tensor, ...]


@dataclass
class Step:
    """What one chunk evaluates: ``leaves`` (each (k * N, ...)) get ``requires_grad``;
    ``inputs(leaves)`` is what ``forward_func`` is called with; ``target`` / ``args`` match
    the forward's rows."""

    leaves: Tensors
    inputs: Callable[[Tensors], Tensors]
    target: TargetType
    args: Optional[Tuple[Any, ...]]


def _same(leaves: Tensors) -> Tensors:
    return leaves


class StepPlan:
    """Base plan: ``n_steps`` steps of ``rows`` rows; ``like`` the per-step inputs (N, ...)
    used for memory estimates and cache keys; ``tag`` names the plan in the chunk cache.
    Subclasses implement :meth:`points`; :meth:`step` repeats target / args per step."""

    tag = "grad"

    def __init__(self, n_steps: int, rows: int, like: Tensors, target: Any,
                 args: Optional[Tuple[Any, ...]]) -> None:
        self.n_steps = n_steps
        self.rows = max(1, rows)
        self.like = like
        self.target = Target.of(target)
        self.args = args

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        """(leaves, forward inputs or None for the leaves) of steps ``[s0, s1)``."""
        raise NotImplementedError

    def step(self, s0: int, s1: int) -> Step:
        """The :class:`Step` of steps ``[s0, s1)`` (targets and tensor args repeated)."""
        with torch.no_grad():
            leaves, fwd = self.points(s0, s1)
        k = s1 - s0
        inputs = _same if fwd is None else (lambda _l, f=fwd: f)
        return Step(leaves, inputs, self.target.expand(k), expand_additional_args(self.args, k))


class SinglePass(StepPlan):
    """One step: the inputs (N, ...) themselves; ``forward_inputs`` (optional) maps the leaves
    to what the forward gets (e.g. ``lambda ls: tuple(l + 0 for l in ls)``)."""

    def __init__(self, inputs: Tensors, target: Any, args: Optional[Tuple[Any, ...]],
                 forward_inputs: Optional[Callable[[Tensors], Tensors]] = None) -> None:
        super().__init__(1, inputs[0].shape[0] if inputs[0].dim() else 1, inputs, target, args)
        self.inputs = inputs
        self.forward_inputs = forward_inputs

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        return self.inputs, None

    def step(self, s0: int, s1: int) -> Step:
        st = super().step(s0, s1)
        if self.forward_inputs is not None:
            st.inputs = self.forward_inputs
        return st


class PairPass(StepPlan):
    """One forward over ``cat([inputs, baselines])`` (2N rows; targets and args repeated
    twice, Captum's DeepLift layout); the leaves are the inputs."""

    def __init__(self, inputs: Tensors, baselines: Tensors, target: Any,
                 args: Optional[Tuple[Any, ...]]) -> None:
        super().__init__(1, inputs[0].shape[0], inputs, target, args)
        self.inputs = inputs
        self.baselines = baselines

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        return tuple(x.detach() for x in self.inputs), None

    def step(self, s0: int, s1: int) -> Step:
        leaves, _ = self.points(s0, s1)
        bs = self.baselines

        def pair(ls: Tensors) -> Tensors:
            return tuple(torch.cat([l, b.expand_as(l)]) for l, b in zip(ls, bs))

        return Step(leaves, pair, self.target.expand(2), expand_additional_args(self.args, 2))


class PathPlan(StepPlan):
    """Steps ``s``: ``b + alphas[s] * (x - b)`` for each (x, b) of ``xs`` / ``bs`` (N, ...).
    With ``model_inputs`` the forward gets those (repeated per step) and the path points are
    meant to replace a layer's tensors (see :class:`fastxai.engine.wrt.ReplaceLayer`)."""

    tag = "ig"

    def __init__(self, xs: Tensors, bs: Tensors, alphas: Sequence[float], target: Any,
                 args: Optional[Tuple[Any, ...]], model_inputs: Optional[Tensors] = None,
                 tag: str = "ig") -> None:
        super().__init__(len(alphas), xs[0].shape[0], model_inputs or xs, target, args)
        self.xs = tuple(x.detach() for x in xs)
        self.bs = tuple(b.detach() for b in bs)
        self.alphas = torch.tensor(list(alphas), dtype=torch.float64)
        self.model_inputs = model_inputs
        self.tag = tag

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        a = self.alphas[s0:s1]
        leaves = tuple(ig_interpolate(x, b, a) for x, b in zip(self.xs, self.bs))
        fwd = None
        if self.model_inputs is not None:
            fwd = tuple(torch.cat([m.detach()] * (s1 - s0), dim=0) for m in self.model_inputs)
        return leaves, fwd


class RowPlan(StepPlan):
    """Every row its own step (``rows`` = 1): ``build(r0, r1)`` gives the leaves of rows
    ``[r0, r1)``; ``target`` and tensor ``args`` already hold one entry per row."""

    tag = "rows"

    def __init__(self, build: Callable[[int, int], Tensors], n_rows: int, like: Tensors,
                 target: Any, args: Optional[Tuple[Any, ...]], tag: str = "rows") -> None:
        super().__init__(n_rows, 1, like, target, args)
        self.build = build
        self.tag = tag

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        return self.build(s0, s1), None

    def step(self, s0: int, s1: int) -> Step:
        with torch.no_grad():
            leaves = self.build(s0, s1)
        return Step(leaves, _same, self.target.rows(s0, s1), slice_rows(self.args, s0, s1))


class FunctionPlan(StepPlan):
    """A plan from a function ``(s0, s1) -> (leaves, forward inputs or None)`` (tests, one-off
    methods)."""

    def __init__(self, build: Callable[[int, int], Tuple[Tensors, Optional[Tensors]]], n_steps: int,
                 rows: int, like: Tensors, target: Any, args: Optional[Tuple[Any, ...]],
                 tag: str = "grad") -> None:
        super().__init__(n_steps, rows, like, target, args)
        self.build = build
        self.tag = tag

    def points(self, s0: int, s1: int) -> Tuple[Tensors, Optional[Tensors]]:
        return self.build(s0, s1)
