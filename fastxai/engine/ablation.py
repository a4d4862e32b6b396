"""Feature ablation on a call record, as one engine part: the unperturbed forward, an
:class:`~fastxai.engine.plans.AblationPlan` over the record's feature ids, a
:class:`~fastxai.engine.reducers.DifferenceReducer`, and the per-feature drops spread back
onto the elements. FeatureAblation runs it on the inputs; the layer / neuron variants on a
layer's activations or with a neuron's value as the output."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from torch import Tensor

from fastxai.engine.checks import check_masks_match_output
from fastxai.engine.features import feature_ids, scatter_feature_values
from fastxai.engine.perturb import initial_for, run_call
from fastxai.engine.plans import AblationPlan
from fastxai.engine.reducers import DifferenceReducer, difference_dtype


Runner = Callable[[AblationPlan, DifferenceReducer, Tensor, Tensor], None]


def ablation_attributions(forward_func: Callable[..., Any], call: Any,
                          run: Optional[Runner] = None) -> Tuple[Tensor, ...]:
    """Per input of ``call`` (a :class:`~fastxai._captum.call.CallRecord` with baselines and
    feature masks), the (O, *S) output drops ``f(x) - f(x with feature j at its baseline)``
    on every element of feature j, in the output's dtype (Captum's rule, integers included).
    ``run(plan, reducer, initial, ids)`` runs the plan instead of :func:`run_call`
    (FeatureAblation's incremental path)."""
    initial = initial_for(forward_func, call)
    masks = call.feature_masks
    check_masks_match_output(call.n, initial, masks)
    ids = feature_ids(masks).to(call.device)
    plan = AblationPlan(call.baselines, masks, ids)
    diff = DifferenceReducer(initial, plan.n_perturbations, difference_dtype(initial))
    if run is None:
        run_call(forward_func, call, plan, diff, initial)
    else:
        run(plan, diff, initial, ids)
    return scatter_feature_values(diff.table, masks, ids, call.n, call.inputs)
