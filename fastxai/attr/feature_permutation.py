"""FeaturePermutation: attr[feature] = f(x) - f(x with the feature shuffled across the batch)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai._captum.masks import feature_ids, scatter_feature_values
from fastxai.attr._perturbation_common import check_masks_match_output, difference_dtype
from fastxai.attr.feature_ablation import DifferenceAccumulator
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.targets import TargetType
from fastxai.ops.philox import reference_philox_uniform

logger = logging.getLogger(__name__)


def _permute_feature(x: Tensor, feature_mask: Tensor) -> Tensor:
    """Captum's default: shuffle the masked elements across the batch (never the identity)."""
    n = x.size(0)
    assert n > 1, "cannot permute features with batch_size = 1"
    perm = torch.randperm(n)
    no_perm = torch.arange(n)
    while (perm == no_perm).all():
        perm = torch.randperm(n)
    return (x[perm] * feature_mask.to(dtype=x.dtype)) + (
        x * feature_mask.bitwise_not().to(dtype=x.dtype)
    )


def _captum_feature_order(masks: Tuple[Tensor, ...], ids: Tensor) -> List[int]:
    """Positions in the sorted ``ids`` in the order Captum walks features: input 0's ids
    ascending, then the ids first seen in input 1, and so on (its feature -> tensor dict).
    It matters for the random draws only, whose order must follow Captum's."""
    pos = {f: j for j, f in enumerate(ids.tolist())}
    order: List[int] = []
    seen = set()
    for m in masks:
        for f in torch.unique(m).tolist():
            if f not in seen:
                seen.add(f)
                order.append(pos[f])
    return order


def _draw_permutations(
    sizes: List[int], holders: List[List[int]], order: List[int], order_chunk: int,
    seed: Optional[int], device: torch.device,
) -> List[Tensor]:
    """Per input tensor i, a (P, sizes[i]) table of permutations of its dim 0 for the P
    features of ``holders`` (indexed by sorted feature position). Only the features listed
    in ``order`` are drawn, in Captum's order: per chunk of ``order_chunk`` of them, per
    input tensor holding any of the chunk, per feature of the chunk. Tensor i's dim 0 is
    usually the batch N, but a "sparse" tensor (an index list) is shuffled along its own
    length, as Captum's ``perm_func`` does. With ``seed``, permutation (p, i) is the argsort
    of Philox uniforms keyed by (seed; element, p, attempt, i)."""
    perms = [torch.arange(m).repeat(len(holders), 1) for m in sizes]
    for c0 in range(0, len(order), order_chunk):
        chunk = order[c0 : c0 + order_chunk]
        tensors = sorted({i for p in chunk for i in holders[p]})
        for i in tensors:
            m = sizes[i]
            if m < 2:  # only reachable with the min-examples skip disabled
                raise InputError(
                    f"FeaturePermutation: cannot permute input {i} along dim 0 of size {m}; "
                    "it needs at least 2 entries"
                )
            ident = torch.arange(m)
            for p in chunk:
                attempt = 0
                while True:
                    if seed is None:
                        perm = torch.randperm(m)
                    else:
                        u = reference_philox_uniform(seed, torch.arange(m), p, attempt, i)
                        perm = torch.argsort(u)
                    attempt += 1
                    if not bool((perm == ident).all()):
                        break
                perms[i][p] = perm
    return [t.to(device) for t in perms]


class FeaturePermutationPlan:
    """Perturbation p shuffles feature ``ids[p]`` along dim 0 of every tensor holding it."""

    def __init__(self, masks: Tuple[Tensor, ...], ids: Tensor, perms: Optional[List[Tensor]],
                 perm_func: Optional[Callable[[Tensor, Tensor], Tensor]]) -> None:
        self.masks, self.ids, self.perms, self.perm_func = masks, ids, perms, perm_func
        self.n_perturbations = int(ids.numel())

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        out = []
        for i, (x, m) in enumerate(zip(inputs, self.masks)):
            ids = self.ids[p0:p1].reshape((-1,) + (1,) * x.dim())
            hit = m.unsqueeze(0) == ids  # (K, 1|N, *S)
            if self.perm_func is None:
                assert self.perms is not None
                shuffled = x[self.perms[i][p0:p1]]  # (K, N, *S)
            else:
                shuffled = torch.stack([
                    self.perm_func(x, (m == int(self.ids[p])).expand_as(x)) for p in range(p0, p1)
                ])
            rows = torch.where(hit, shuffled, x.unsqueeze(0))
            out.append(rows.reshape((-1,) + tuple(x.shape[1:])))
        return tuple(out)


class FeaturePermutation(PerturbationAttribution):
    """Captum-compatible FeaturePermutation on the batched engine. The batch is never split
    (each forward holds whole copies of all N examples)."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        perm_func: Callable[[Tensor, Tensor], Tensor] = _permute_feature,
    ) -> None:
        super().__init__(forward_func)
        self.perm_func = perm_func
        self._min_examples_per_batch_grouped: Optional[int] = 2

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        **kwargs: Any,
    ) -> TensorOrTuple:
        """Shuffle each feature across the batch and record the output drop.

        Args:
            inputs: (N, *S) tensor or tuple, N > 1. A tensor whose dim 0 is not N (a
                "sparse" index list) is shuffled along its own dim 0, as in Captum.
            feature_mask: integer ids broadcastable to each input (global across tensors).
            perturbations_per_eval: cap on features per forward (None = auto). Without
                ``seed`` it also fixes the order of the random draws (Captum's default 1).
            seed: counter-based permutations instead of the global RNG.
        Returns:
            attributions mirroring ``inputs``, each (N, *S), in the model output's dtype.
        """
        if kwargs:
            raise TypeError(f"FeaturePermutation.attribute got unexpected arguments {sorted(kwargs)}")
        call = normalize_call(
            inputs, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution", sparse_inputs=True,
        )
        initial = initial_for(self.forward_func, call)
        masks = call.feature_masks
        check_masks_match_output(call.n, initial, masks)
        ids = feature_ids(masks).to(call.device)
        dtype = difference_dtype(initial)
        holders = [[i for i, m in enumerate(masks) if bool((m == fid).any())] for fid in ids.tolist()]
        sizes = [x.shape[0] for x in call.inputs]
        # Captum skips (attribution 0, with a warning) every feature held by a tensor whose
        # dim 0 is below the minimum: a batch of one, or a short / empty "sparse" tensor.
        # It decides per chunk of perturbations_per_eval features, so with ppe > 1 it also
        # drops the chunk's valid features; fastxai decides per feature (equal for ppe = 1).
        min_n = self._min_examples_per_batch_grouped
        keep = [
            j for j, hs in enumerate(holders)
            if min_n is None or all(sizes[i] >= min_n for i in hs)
        ]
        if len(keep) < len(holders):
            logger.warning(
                "FeaturePermutation: skipping %d of %d features, held by an input whose dim 0 "
                "is below %s; their attributions are zero",
                len(holders) - len(keep), len(holders), min_n,
            )
        run_ids = ids[keep]
        perms = None
        func = None if self.perm_func is _permute_feature else self.perm_func
        if func is None:
            kept = set(keep)
            order = [j for j in _captum_feature_order(masks, ids) if j in kept]
            drawn = _draw_permutations(
                sizes, holders, order, perturbations_per_eval or 1, seed, call.device,
            )
            perms = [t[keep] for t in drawn]
        plan = FeaturePermutationPlan(masks, run_ids, perms, func)
        acc = DifferenceAccumulator(initial, plan.n_perturbations, dtype)
        run_call(self.forward_func, call, plan, acc, initial)
        table = acc.table
        if len(keep) < len(holders):
            table = torch.zeros((acc.table.shape[0], len(holders)), dtype=dtype, device=acc.table.device)
            table[:, keep] = acc.table
        return format_result(call, scatter_feature_values(table, masks, ids, call.n, call.inputs))
