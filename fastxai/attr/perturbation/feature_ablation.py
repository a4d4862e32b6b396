"""FeatureAblation: attr[feature] = f(x) - f(x with the feature set to its baseline)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.futures import attribute_future
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.engine.ablation import ablation_attributions
from fastxai.engine.incremental.adapter import PlanSummary, ablation_segments, check_mode, run_call_incremental
from fastxai.engine.plans import AblationPlan
from fastxai.engine.reducers import DifferenceReducer
from fastxai.engine.targets import TargetType


class FeatureAblation(PerturbationAttribution):
    """Captum-compatible FeatureAblation on fastxai's batched engine
    (:func:`~fastxai.engine.ablation.ablation_attributions`: an ablation plan and a
    difference reducer).

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
        # Captum 0.8's flag; Captum 0.9 always numbers features across tensors and ignores it.
        kwargs.pop("enable_cross_tensor_attribution", None)
        if kwargs:
            raise TypeError(f"FeatureAblation.attribute got unexpected arguments {sorted(kwargs)}")
        check_mode(incremental, incremental_tau)
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution", sparse_inputs=True, broadcast_baselines=True,
        )

        def run(plan: AblationPlan, diff: DifferenceReducer, initial: Tensor, ids: Tensor) -> None:
            self.last_plan = run_call_incremental(self.forward_func, call, plan, diff, initial,
                                                  lambda: ablation_segments(call, ids), incremental, incremental_tau)

        return format_result(call, ablation_attributions(self.forward_func, call, run))

    def attribute_future(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> "torch.futures.Future[TensorOrTuple]":
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``
        (Captum's ``attribute_future``): a completed future of the same attributions.
        ``kwargs``: ``max_batch`` / ``max_memory``."""
        return attribute_future(self, inputs, baselines, target, additional_forward_args, feature_mask,
                                perturbations_per_eval, show_progress, **kwargs)
