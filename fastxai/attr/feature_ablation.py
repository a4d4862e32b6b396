"""FeatureAblation: attr[feature] = f(x) - f(x with the feature set to its baseline)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.inputs import BaselineType, TensorOrTuple, format_output
from fastxai._captum.masks import feature_ids, format_feature_mask, scatter_feature_values
from fastxai._captum.targets import TargetType
from fastxai.attr._perturbation_common import (
    check_masks_match_output,
    difference_dtype,
    prepare_call,
    shape_outputs,
)
from fastxai.engine.incremental.adapter import PlanSummary, check_mode, try_incremental
from fastxai.engine.incremental.perturbations import SegmentPerturbations
from fastxai.engine.perturb import run_perturbations
from fastxai.ops.ablate import ablate_by_id


class FeatureAblationPlan:
    """Perturbation p ablates feature ``ids[p]`` in every input tensor that holds it."""

    def __init__(self, baselines: Tuple[Tensor, ...], masks: Tuple[Tensor, ...], ids: Tensor) -> None:
        self.baselines = baselines
        self.masks = masks
        self.ids = ids
        self.n_perturbations = int(ids.numel())

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        chunk = self.ids[p0:p1]
        return tuple(
            ablate_by_id(x, b, m, chunk) for x, b, m in zip(inputs, self.baselines, self.masks)
        )


class DifferenceAccumulator:
    """Collects (initial - perturbed) per perturbation into a (O, P) table on the device."""

    deferred = True  # needs only the outputs: the engine hands them over in one update

    def __init__(self, initial: Tensor, n_perturbations: int, dtype: torch.dtype) -> None:
        self.initial = initial.reshape(1, -1).to(dtype)
        self.table = torch.zeros(
            (self.initial.shape[1], n_perturbations), dtype=dtype, device=initial.device
        )

    def update(self, p0: int, p1: int, outputs: Tensor) -> None:
        self.table[:, p0:p1] = (self.initial - outputs.to(self.table.dtype)).T


class FeatureAblation(PerturbationAttribution):
    """Captum-compatible FeatureAblation on fastxai's batched engine.

    ``attribute`` returns, per input, a tensor of the input's shape (N, *S) where every
    element of a feature holds that feature's output drop. With a multi-target (N, K) the
    result per input is (N, K, *S). A forward returning one scalar per batch gives (1, *S).

    With compact spatial segments on a traceable conv net, each ablation recomputes only the
    feature-map regions it changes (exact; fastxai.engine.incremental) when that pays;
    ``last_plan`` says which path ran and why.
    """

    last_plan: Optional[PlanSummary] = None

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)
        self.use_weights = False

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        incremental: Union[bool, str] = "auto",
        incremental_tau: float = 1.0,
        **kwargs: Any,
    ) -> TensorOrTuple:
        """Ablate each feature (group of elements sharing an id in ``feature_mask``).

        Args:
            inputs: (N, *S) tensor or tuple of them.
            baselines: scalar, (N|1, *S) tensor, or a tuple of those per input. Default 0.
            target: Captum target forms, or an (N, K) tensor / list of lists for K targets.
            additional_forward_args: passed after the inputs to ``forward_func``.
            feature_mask: integer ids broadcastable to each input; ids are global across
                tensors. None: every scalar is its own feature.
            perturbations_per_eval: cap on features per forward (None = auto-calibrated).
            show_progress: progress bar.
            max_batch: cap on rows per forward. max_memory: cap on bytes per forward.
            incremental, incremental_tau *(extra)*: as :meth:`Occlusion.attribute`; each
                feature's changed region is its bounding box.
        Returns:
            attributions mirroring ``inputs`` (tensor or tuple), each (N, *S), in the
            model output's dtype (integer outputs give integer attributions, as Captum).
        """
        if kwargs:
            raise TypeError(f"FeatureAblation.attribute got unexpected arguments {sorted(kwargs)}")
        check_mode(incremental, incremental_tau)
        call = prepare_call(
            self.forward_func, inputs, baselines, target, additional_forward_args,
            perturbations_per_eval, show_progress, max_batch, max_memory,
            f"{self.get_name()} attribution", captum_edge=True,
        )
        masks = format_feature_mask(feature_mask, call.inputs)
        check_masks_match_output(call, masks)
        ids = feature_ids(masks).to(call.inputs[0].device)
        plan = FeatureAblationPlan(call.baselines, masks, ids)
        acc = DifferenceAccumulator(call.initial, plan.n_perturbations, difference_dtype(call.initial))
        # --- incremental path (fastxai.engine.incremental); the normal plan when it does not apply
        segments = None
        if (incremental is not False and len(call.inputs) == 1 and call.inputs[0].dim() >= 3
                and call.inputs[0].is_floating_point() and ids.numel() > 0):
            x = call.inputs[0]
            segments = SegmentPerturbations(masks[0], ids, x.shape[1:], x.shape[0])
        self.last_plan = try_incremental(
            self.forward_func, call.inputs, call.baselines[0], segments, acc, call.target, call.args,
            call.initial, call.options, incremental, incremental_tau,
        )
        if self.last_plan.path == "full":
            run_perturbations(plan, acc, self.forward_func, call.inputs, call.target, call.args,
                              call.initial, call.options)
        attrs = scatter_feature_values(acc.table, masks, ids, call.n, call.inputs)
        return format_output(call.is_tuple, shape_outputs(call, attrs))
