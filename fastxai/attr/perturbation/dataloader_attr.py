"""Captum's ``DataLoaderAttribution``: feature ablation of a metric computed over a whole
DataLoader, on fastxai's perturbation engine.

Captum wraps a ``FeatureAblation`` and, for every perturbation, traverses the loader calling
the model once per batch. Here each batch goes through :func:`fastxai.engine.perturb.run_perturbations`:
the perturbed copies of a batch for all the perturbations of a traversal are stacked and sent
in as few forwards as the engine's chunk sizing (and ``max_batch``) allows, when the model
returns one output row per input row (checked on the first batch); otherwise one perturbation
per forward, as Captum. The unperturbed evaluation shares the first traversal, so a call
traverses the loader ``ceil((F + 1) / perturbations_per_pass)`` times (Captum:
``1 + ceil(F / perturbations_per_pass)``).

Semantics and numbers are Captum 0.9's: element ``j`` of a dataloader batch has role
``input_roles[j]``: 0 = attributed and passed to the model, 1 = passed to the model only,
2 = not passed (e.g. labels; the docstring of Captum 0.9 swaps 1 and 2, its code does this).
Feature ``f`` is ablated as ``x * m + baseline * (1 - m)`` with ``m`` 0 where the feature mask
is ``f`` (Captum's arithmetic). ``reduce(accum, output, inputs)`` folds the batches' outputs
(default: concatenation), ``to_metric(accum)`` turns the result into the metric tensor;
attribution of feature ``f`` = metric(unperturbed) - metric(f ablated), flattened (M,).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import Attribution
from fastxai._captum.errors import InputError
from fastxai._captum.targets import TargetSelector
from fastxai.engine.checks import preflight
from fastxai.engine.perturb import EngineOptions, initial_outputs, run_perturbations
from fastxai.engine.progress import Progress

NEED_ATTR, NEED_FORWARD, NO_FORWARD = 0, 1, 2


class InputRole:
    """Captum's names for the roles of dataloader elements."""

    need_attr = NEED_ATTR
    need_forward = NEED_FORWARD
    no_forward = NO_FORWARD


def _concat_tensors(accum: Optional[Tensor], cur_output: Tensor, _: Any) -> Tensor:
    """Captum's default ``reduce``: concatenate outputs along the batch dimension."""
    return cur_output if accum is None else torch.cat([accum, cur_output])


class _Ablation:
    """Perturbed role-0 tensors of one batch for perturbation ``q`` (0: none, q: feature q - 1)."""

    def __init__(self, masks: Tuple[Tensor, ...], baselines: Tuple[Any, ...], perturbations: Sequence[int]) -> None:
        self.masks, self.baselines, self.perturbations = masks, baselines, list(perturbations)
        self.features_of = [set(torch.unique(m).tolist()) for m in masks]

    def one(self, attr: Tuple[Tensor, ...], q: int) -> Tuple[Tensor, ...]:
        """Role-0 tensors (B, ...) under perturbation ``q``."""
        f = q - 1
        out = []
        for x, mask, base, feats in zip(attr, self.masks, self.baselines, self.features_of):
            if f < 0 or f not in feats:
                out.append(x)
                continue
            keep = (mask != f).to(torch.get_default_dtype())
            out.append(x * keep + base * (1 - keep))
        return tuple(out)


class _Plan:
    """Engine plan: rows of the local perturbations [p0, p1), perturbation-major."""

    def __init__(self, ablation: _Ablation) -> None:
        self.ablation = ablation
        self.n_perturbations = len(ablation.perturbations)
        self.prebuild = False

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        """Role-0 tensors ((p1 - p0) * B, ...) for local perturbations [p0, p1)."""
        per = [self.ablation.one(inputs, self.ablation.perturbations[p]) for p in range(p0, p1)]
        return tuple(torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*per))


class _Reduce:
    """Engine reducer: each perturbation's (B, ...) output folded into its ``reduce`` state."""

    def __init__(self, run: "_Run", ablation: _Ablation, batch: Tuple[Any, ...], out_shape: torch.Size) -> None:
        self.run, self.ablation, self.batch, self.out_shape = run, ablation, batch, out_shape

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        """Fold outputs (p1 - p0, O) of local perturbations [p0, p1) into their states."""
        for p in range(p0, p1):
            q = self.ablation.perturbations[p]
            self.run.fold(q, outputs[p - p0].reshape(self.out_shape), self.ablation, self.batch)


class _Forward:
    """The model called with role-1 elements put back in place (repeated once per stacked copy)."""

    def __init__(self, forward_func: Callable[..., Any], roles: Tuple[int, ...]) -> None:
        self.forward_func, self.roles = forward_func, roles
        # the engine keys chunk sizes by, and checks BatchNorm on, the model behind a callable
        self.__self__ = forward_func if isinstance(forward_func, torch.nn.Module) else getattr(
            forward_func, "__self__", forward_func)
        self.batch: Tuple[Any, ...] = ()
        self.n = 1

    def __call__(self, *attr_rows: Tensor) -> Any:
        copies = attr_rows[0].shape[0] // self.n if attr_rows and attr_rows[0].dim() else 1
        rows = iter(attr_rows)
        args = []
        for item, role in zip(self.batch, self.roles):
            if role == NEED_ATTR:
                args.append(next(rows))
            elif role == NEED_FORWARD:
                args.append(item if copies == 1 else torch.cat([item] * copies))
        return self.forward_func(*args)


class _Run:
    """State of one ``attribute`` call: reduce states per perturbation, stacking decision."""

    def __init__(self, forward: _Forward, roles: Tuple[int, ...], masks: Tuple[Tensor, ...],
                 baselines: Tuple[Any, ...], reduce: Optional[Callable[..., Any]], stack: Optional[bool],
                 max_batch: Optional[int]) -> None:
        self.forward = forward
        self.roles, self.masks, self.baselines = roles, masks, baselines
        self.reduce = reduce or _concat_tensors
        self.wants_inputs = reduce is not None
        self.stack, self.max_batch = stack, max_batch
        self.states: Dict[int, Any] = {}
        self.out_shapes: Dict[int, torch.Size] = {}

    def fold(self, q: int, output: Tensor, ablation: _Ablation, batch: Tuple[Any, ...]) -> None:
        """state[q] = reduce(state[q], output (B, ...), the batch as perturbation q saw it)."""
        inputs: Any = None
        if self.wants_inputs:
            perturbed = iter(ablation.one(_attr(batch, self.roles), q))
            inputs = tuple(next(perturbed) if r == NEED_ATTR else b for b, r in zip(batch, self.roles))
        self.states[q] = self.reduce(self.states.get(q), output, inputs)

    def _stackable(self, batch: Tuple[Any, ...], n: int, out: Tensor) -> bool:
        """Whether copies of this batch (n > 1 rows) may share a forward: one output row per input
        row and role-1 elements batched alike."""
        rowwise = out.dim() > 0 and out.shape[0] == n
        others = all(isinstance(b, Tensor) and b.dim() > 0 and b.shape[0] == n
                     for b, r in zip(batch, self.roles) if r == NEED_FORWARD)
        return rowwise and others

    def batch_pass(self, batch: Tuple[Any, ...], perturbations: List[int]) -> None:
        """Run ``perturbations`` (global ids, 0 = unperturbed) on one dataloader batch."""
        attr = _attr(batch, self.roles)
        n = attr[0].shape[0]
        self.forward.batch, self.forward.n = batch, n
        selector = TargetSelector(None)
        ablation = _Ablation(self.masks, self.baselines, [q for q in perturbations if q != 0])
        if 0 in perturbations or n not in self.out_shapes:
            initial = initial_outputs(self.forward, attr, selector, None)
            self.out_shapes[n] = initial.shape
            if self.stack is None and n > 1:
                self.stack = self._stackable(batch, n, initial)
            if 0 in perturbations:
                self.fold(0, initial, ablation, batch)
        else:
            initial = torch.empty(self.out_shapes[n])
        if not ablation.perturbations:
            return
        ppe = None if self.stack else 1
        options = EngineOptions(perturbations_per_eval=ppe, max_batch=self.max_batch, desc="DataLoader Attribution")
        reducer = _Reduce(self, ablation, batch, initial.shape)
        run_perturbations(_Plan(ablation), reducer, self.forward, attr, selector, None, initial, options)


def _attr(batch: Tuple[Any, ...], roles: Tuple[int, ...]) -> Tuple[Tensor, ...]:
    return tuple(b for b, r in zip(batch, roles) if r == NEED_ATTR)


def _as_batch(item: Any) -> Tuple[Tuple[Any, ...], bool]:
    """A dataloader item as a tuple, and whether it was a tuple / list."""
    if type(item) is list or type(item) is tuple:
        return tuple(item), True
    return (item,), False


class DataLoaderAttribution(Attribution):
    """Feature ablation of a metric over a whole DataLoader (Captum 0.9's class).

    ``attr_method``: a ``FeatureAblation`` (fastxai's or Captum's) whose ``forward_func`` is
    the model. See the module docstring for the semantics."""

    def __init__(self, attr_method: Attribution) -> None:
        if type(attr_method).__name__ != "FeatureAblation" or not hasattr(attr_method, "forward_func"):
            raise InputError(f"attr_method: DataloaderAttribution does not support {type(attr_method)}; "
                             "pass a FeatureAblation")
        super().__init__(attr_method.forward_func)
        self.attr_method = copy.copy(attr_method)

    def attribute(
        self,
        dataloader: Any,
        input_roles: Optional[Tuple[int, ...]] = None,
        baselines: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        reduce: Optional[Callable[..., Any]] = None,
        to_metric: Optional[Callable[[Any], Tensor]] = None,
        perturbations_per_pass: int = 1,
        show_progress: bool = False,
        return_input_shape: bool = True,
        max_batch: Optional[int] = None,
        stack_perturbations: Optional[bool] = None,
    ) -> Union[Tensor, Tuple[Tensor, ...]]:
        """Attributions of the metric's M values to the F features.

        Args:
            dataloader: any iterable of batches: a tensor (B, ...) or a tuple / list of elements.
            input_roles: one role per batch element (default: all 0).
            baselines: one per role-0 element: a number or a (1, ...) tensor (default 0).
            feature_mask: one (1, ...) integer (or integer-valued float) id tensor per role-0
                element (default: every scalar its own feature, numbered across elements).
            reduce, to_metric: see the module docstring.
            perturbations_per_pass: perturbations run per traversal of the loader (each keeps a
                ``reduce`` state until the traversal ends).
            show_progress: a progress bar over traversals.
            return_input_shape: True: per role-0 element (M, *S) (a tuple when batches are
                tuples / lists); False: one (M, F) tensor.
            max_batch: (fastxai) rows per model call.
            stack_perturbations: (fastxai) None = stack perturbed copies of a batch into shared
                forwards when the model is row-wise (checked); False = one per forward, as Captum.
        """
        try:
            first, is_tuple = _as_batch(next(iter(dataloader)))
        except StopIteration:
            raise InputError("dataloader yields no batches (inputs has 0 examples)") from None
        roles = _check_roles(input_roles, len(first))
        attr0 = _attr(first, roles)
        preflight(self.forward_func, attr0, max_batch=max_batch)  # before any forward
        bases = _check_baselines(baselines, attr0)
        masks = _check_masks(feature_mask, attr0)
        n_features = max((int(m.max()) + 1 for m in masks if m.numel()), default=0)
        if not isinstance(perturbations_per_pass, int) or perturbations_per_pass < 1:
            raise InputError(f"perturbations_per_pass must be an integer >= 1, got {perturbations_per_pass!r}")
        forward = _Forward(self.forward_func, roles)
        run = _Run(forward, roles, masks, bases, reduce, stack_perturbations, max_batch)
        present = sorted(set().union(*[set(torch.unique(m).tolist()) for m in masks]))
        todo = [0] + [f + 1 for f in present]
        passes = [todo[i:i + perturbations_per_pass] for i in range(0, len(todo), perturbations_per_pass)]
        progress = Progress(len(passes), "DataLoader Attribution", show_progress)
        metrics: Dict[int, Tensor] = {}
        for group in passes:
            for item in dataloader:
                run.batch_pass(_as_batch(item)[0], group)
            for q in group:
                metrics[q] = _metric(run.states.pop(q, None), to_metric)
            progress.update(1)
        progress.close()
        unique = _unique_attr(metrics, n_features)
        if not return_input_shape:
            return unique
        out = tuple(unique[:, m.expand(1, *x.shape[1:]).reshape(-1)].reshape(unique.shape[0], *x.shape[1:])
                    for m, x in zip(masks, attr0))
        return out if is_tuple else out[0]


def _metric(state: Any, to_metric: Optional[Callable[[Any], Tensor]]) -> Tensor:
    value = to_metric(state) if to_metric else state
    if type(value) is not Tensor:
        raise InputError(f"Accumulated metrics for attribution must be a Tensor, received: {value}")
    return value


def _unique_attr(metrics: Dict[int, Tensor], n_features: int) -> Tensor:
    """(M, F): metric(unperturbed) - metric(feature f ablated), flattened; 0 for absent ids."""
    base = metrics[0].reshape(-1)
    cols = [base - metrics[f + 1].reshape(-1) if f + 1 in metrics else torch.zeros_like(base)
            for f in range(n_features)]
    return torch.stack(cols, dim=1) if cols else base.new_zeros((base.numel(), 0))


def _check_roles(input_roles: Optional[Tuple[int, ...]], n: int) -> Tuple[int, ...]:
    if not input_roles:
        return (NEED_ATTR,) * n
    if len(input_roles) != n:
        raise InputError(f"input_roles must have the same size as the return of the dataloader: length of "
                         f"input_roles is {len(input_roles)} whereas the length of dataloader return is {n}")
    if any(r not in (NEED_ATTR, NEED_FORWARD, NO_FORWARD) for r in input_roles):
        raise InputError(f"input_roles: each role is 0, 1 or 2, got {tuple(input_roles)}")
    if NEED_ATTR not in input_roles:
        raise InputError(f"input_roles must contain at least one element need attribution(0), received "
                         f"input_roles: {tuple(input_roles)}")
    return tuple(input_roles)


def _check_baselines(baselines: Any, attr: Tuple[Tensor, ...]) -> Tuple[Any, ...]:
    if baselines is None:
        return tuple(False if x.dtype == torch.bool else 0 for x in attr)
    bases = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(bases) != len(attr):
        raise InputError(f"baselines: got {len(bases)} for {len(attr)} dataloader elements that need attribution")
    for i, b in enumerate(bases):
        if not isinstance(b, (Tensor, int, float)):
            raise InputError(f"baselines[{i}] must be a tensor or a number, got {type(b).__name__}")
        if isinstance(b, Tensor) and (b.dim() == 0 or b.shape[0] != 1):
            raise InputError(f"baselines[{i}]: a tensor baseline needs first dimension 1 so it broadcasts to any "
                             f"batch, got shape {tuple(b.shape)}")
    return bases


def _check_masks(feature_mask: Any, attr: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    if feature_mask is None:
        out, start = [], 0
        for x in attr:
            k = x[0:1].numel()
            out.append(start + torch.arange(k, device=x.device).reshape(x[0:1].shape))
            start += k
        return tuple(out)
    masks = feature_mask if isinstance(feature_mask, tuple) else (feature_mask,)
    if len(masks) != len(attr):
        raise InputError(f"feature_mask: got {len(masks)} masks for {len(attr)} dataloader elements that need "
                         "attribution")
    out = []
    for i, m in enumerate(masks):
        if m.dim() == 0 or m.shape[0] != 1:
            raise InputError(f"feature_mask[{i}]: the first dimension must be 1 so it broadcasts to any batch, "
                             f"got shape {tuple(m.shape)}")
        if m.is_floating_point():
            if not bool(torch.equal(m, m.round())):
                raise InputError(f"feature_mask[{i}] holds non-integer values; feature ids must be integers")
            m = m.long()
        if m.numel() and int(m.min()) < 0:
            raise InputError(f"feature_mask[{i}] holds negative ids; feature ids start at 0")
        out.append(m)
    return tuple(out)
