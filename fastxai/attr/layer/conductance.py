"""LayerConductance (Dhamdhere et al. 2018): sum over path steps of (layer value at step s+1
- at step s) * d output / d layer at step s; the engine's path plan (S + 1 points) with the
:class:`~fastxai.engine.wrt.Layer` strategy."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase, per_layer
from fastxai.engine.gradient import GradientChunk, Sizing, iterate_gradients
from fastxai.engine.paths import check_steps, step_sizes_and_alphas
from fastxai.engine.steps import PathPlan
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Layer


def conductance_sum(chunks: Any, n: int) -> Tuple[Tensor, ...]:
    """sum_s (A_{s+1} - A_s) * G_s over the chunks of an (S + 1)-point path, per layer tensor,
    accumulated in float64 one step at a time in step order (so the result does not depend on
    the chunk boundaries), returned in the layer's dtype."""
    acc: Optional[List[Tensor]] = None
    prev: Optional[Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]] = None
    for ch in chunks:  # type: GradientChunk
        k = ch.s1 - ch.s0
        evals = tuple(e.reshape((k, n) + tuple(e.shape[1:])) for e in ch.layer)
        grads = tuple(g.reshape((k, n) + tuple(g.shape[1:])) for g in ch.grads)
        if acc is None:
            acc = [torch.zeros_like(e[0], dtype=torch.promote_types(e.dtype, torch.float64)) for e in evals]
        for i, (e, g) in enumerate(zip(evals, grads)):
            if prev is not None:
                acc[i].add_((e[0] - prev[0][i]) * prev[1][i])
            for j in range(k - 1):
                acc[i].add_((e[j + 1] - e[j]) * g[j])
        prev = (tuple(e[-1] for e in evals), tuple(g[-1] for g in grads))
    return tuple(a.to(e.dtype) for a, e in zip(acc or [], prev[0] if prev else ()))


class LayerConductance(LayerGradientBase):
    """Conductance of a layer's output (input) along the inputs' straight path."""

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """inputs (N, ...) -> (N, ...layer dims); delta (N,)."""
        call = normalize_call(inputs, baselines=baselines, target=target,
                              additional_forward_args=additional_forward_args)
        check_steps(n_steps, method)
        _, alphas = step_sizes_and_alphas(method, n_steps + 1)
        plan = PathPlan(call.inputs, call.baselines, alphas, call.target, call.additional_args, tag="cond")
        chunks = iterate_gradients(self.forward_func, plan, Layer(self.layer, attribute_to_layer_input),
                                   Sizing(internal_batch_size, max_batch, max_memory), grad_kwargs)
        attrs = conductance_sum(chunks, call.n)
        out = per_layer(call, attrs, [len(attrs)], False)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, call.baselines, call.inputs, target,
                                                       additional_forward_args)
        return out
