"""FeaturePermutation: attr[feature] = f(x) - f(x with the feature shuffled across the batch)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.inputs import TensorOrTuple, format_output
from fastxai._captum.masks import feature_ids, format_feature_mask, scatter_feature_values
from fastxai._captum.targets import TargetType
from fastxai.attr._perturbation_common import output_dtype, prepare_call, shape_outputs
from fastxai.attr.feature_ablation import DifferenceAccumulator
from fastxai.engine.perturb import run_perturbations
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


def _draw_permutations(
    n: int, n_feat: int, holders: List[List[int]], n_inputs: int, order_chunk: int,
    seed: Optional[int], device: torch.device,
) -> Tensor:
    """(P, n_inputs, N) permutations, drawn in Captum's order: per chunk of ``order_chunk``
    features, per input tensor holding any of them, per feature of the chunk. With ``seed``,
    permutation (p, i) is the argsort of Philox uniforms keyed by (seed; n, p, attempt, i)."""
    perms = torch.arange(n).repeat(n_feat, n_inputs, 1)
    ident = torch.arange(n)
    for c0 in range(0, n_feat, order_chunk):
        chunk = range(c0, min(n_feat, c0 + order_chunk))
        tensors = sorted({i for p in chunk for i in holders[p]})
        for i in tensors:
            for p in chunk:
                attempt = 0
                while True:
                    if seed is None:
                        perm = torch.randperm(n)
                    else:
                        u = reference_philox_uniform(seed, torch.arange(n), p, attempt, i)
                        perm = torch.argsort(u)
                    attempt += 1
                    if not bool((perm == ident).all()):
                        break
                perms[p, i] = perm
    return perms.to(device)


class FeaturePermutationPlan:
    """Perturbation p shuffles feature ``ids[p]`` across the N examples of every tensor."""

    def __init__(self, masks: Tuple[Tensor, ...], ids: Tensor, perms: Optional[Tensor],
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
                shuffled = x[self.perms[p0:p1, i]]  # (K, N, *S)
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
            inputs: (N, *S) tensor or tuple, N > 1.
            feature_mask: integer ids broadcastable to each input (global across tensors).
            perturbations_per_eval: cap on features per forward (None = auto). Without
                ``seed`` it also fixes the order of the random draws (Captum's default 1).
            seed: counter-based permutations instead of the global RNG.
        Returns:
            attributions mirroring ``inputs``, each (N, *S).
        """
        if kwargs:
            raise TypeError(f"FeaturePermutation.attribute got unexpected arguments {sorted(kwargs)}")
        call = prepare_call(
            self.forward_func, inputs, None, target, additional_forward_args,
            perturbations_per_eval, show_progress, max_batch, max_memory, "FeaturePermutation",
        )
        masks = format_feature_mask(feature_mask, call.inputs)
        ids = feature_ids(masks).to(call.inputs[0].device)
        dtype = output_dtype(call.initial)
        min_n = self._min_examples_per_batch_grouped
        if min_n is not None and call.n < min_n:
            logger.warning(
                "FeaturePermutation: skipping every feature since the batch has %d example(s), "
                "fewer than %d; attributions are zero", call.n, min_n,
            )
            zeros = tuple(
                torch.zeros((call.n_outputs,) + tuple(x.shape[1:]), dtype=dtype, device=x.device)
                for x in call.inputs
            )
            return format_output(call.is_tuple, shape_outputs(call, zeros))
        perms = None
        func = None if self.perm_func is _permute_feature else self.perm_func
        if func is None:
            holders = [[i for i, m in enumerate(masks) if bool((m == fid).any())] for fid in ids.tolist()]
            perms = _draw_permutations(
                call.n, len(holders), holders, len(call.inputs), perturbations_per_eval or 1,
                seed, call.inputs[0].device,
            )
        plan = FeaturePermutationPlan(masks, ids, perms, func)
        acc = DifferenceAccumulator(call.initial, plan.n_perturbations, dtype)
        run_perturbations(plan, acc, self.forward_func, call.inputs, call.target, call.args,
                          call.initial, call.options)
        attrs = scatter_feature_values(acc.table, masks, ids, call.n, call.inputs)
        return format_output(call.is_tuple, shape_outputs(call, attrs))
