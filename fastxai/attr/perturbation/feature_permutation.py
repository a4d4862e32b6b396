"""FeaturePermutation: attr[feature] = f(x) - f(x with the feature shuffled across the batch)."""
from __future__ import annotations

import logging
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.futures import attribute_future
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.perturbation.feature_ablation import FeatureAblation
from fastxai.engine.checks import check_masks_match_output
from fastxai.engine.features import feature_ids, scatter_feature_values
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.plans import PermutationPlan
from fastxai.engine.reducers import DifferenceReducer, difference_dtype
from fastxai.engine.sampling import captum_feature_order, draw_permutations
from fastxai.engine.targets import TargetType

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


class FeaturePermutation(FeatureAblation):
    """Captum-compatible FeaturePermutation on the batched engine: a
    :class:`~fastxai.engine.plans.PermutationPlan` and a
    :class:`~fastxai.engine.reducers.DifferenceReducer`. A :class:`FeatureAblation`, as in
    Captum."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        perm_func: Callable[[Tensor, Tensor], Tensor] = _permute_feature,
    ) -> None:
        FeatureAblation.__init__(self, forward_func)
        self.perm_func = perm_func
        self._min_examples_per_batch_grouped: Optional[int] = 2

    @log_usage
    def attribute(  # type: ignore[override]
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
        # Captum 0.8's flag; Captum 0.9 always numbers features across tensors and ignores it.
        kwargs.pop("enable_cross_tensor_attribution", None)
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
        keep = self._kept_features(holders, sizes)
        perms, func = None, None if self.perm_func is _permute_feature else self.perm_func
        if func is None:
            kept = set(keep)
            order = [j for j in captum_feature_order(masks, ids) if j in kept]
            drawn = draw_permutations(sizes, holders, order, perturbations_per_eval or 1, seed, call.device)
            perms = [t[keep] for t in drawn]
        plan = PermutationPlan(masks, ids[keep], perms, func)
        diff = DifferenceReducer(initial, plan.n_perturbations, dtype)
        run_call(self.forward_func, call, plan, diff, initial)
        table = diff.table
        if len(keep) < len(holders):
            table = torch.zeros((diff.table.shape[0], len(holders)), dtype=dtype, device=diff.table.device)
            table[:, keep] = diff.table
        return format_result(call, scatter_feature_values(table, masks, ids, call.n, call.inputs))

    def attribute_future(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> "torch.futures.Future[TensorOrTuple]":
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``
        (Captum's ``attribute_future``; a ``baselines`` kwarg is dropped, as Captum does).
        ``kwargs``: ``seed``, ``max_batch``, ``max_memory``."""
        kwargs.pop("baselines", None)
        return attribute_future(self, inputs, target, additional_forward_args, feature_mask,
                                perturbations_per_eval, show_progress, **kwargs)

    def _kept_features(self, holders: List[List[int]], sizes: List[int]) -> List[int]:
        """Captum skips (attribution 0, with a warning) every feature held by a tensor whose
        dim 0 is below ``_min_examples_per_batch_grouped``: a batch of one, or a short / empty
        "sparse" tensor. It decides per chunk of perturbations_per_eval features, so with
        ppe > 1 it also drops the chunk's valid features; fastxai decides per feature (equal
        for ppe = 1)."""
        min_n = self._min_examples_per_batch_grouped
        keep = [j for j, hs in enumerate(holders) if min_n is None or all(sizes[i] >= min_n for i in hs)]
        if len(keep) < len(holders):
            logger.warning(
                "FeaturePermutation: skipping %d of %d features, held by an input whose dim 0 "
                "is below %s; their attributions are zero",
                len(holders) - len(keep), len(holders), min_n,
            )
        return keep
