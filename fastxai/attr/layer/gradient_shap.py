"""LayerGradientShap (Captum 0.9 signature, numbers and draw order; ``seed=`` for
counter-based draws): expected gradients of the target output with respect to a layer, over
random baselines and random points on the input path, times the layer's difference
(A(x) - A(b)). The engine's row plan with the :class:`~fastxai.engine.wrt.Layer` strategy."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.layer._common import LayerGradientBase, per_layer
from fastxai.engine.baselines import baseline_distribution, shap_draws
from fastxai.engine.gradient import Sizing, iterate_gradients, layer_eval
from fastxai.engine.steps import RowPlan
from fastxai.engine.targets import TargetType
from fastxai.engine.wrt import Layer


class LayerGradientShap(LayerGradientBase):
    """SHAP values of a layer's neurons approximated by expected gradients."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: Any,
        n_samples: int = 5,
        stdevs: Union[float, Tuple[float, ...]] = 0.0,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        *,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """inputs (N, ...) -> (N, ...layer dims) (a tuple for a multi-tensor layer); delta
        (N * n_samples,)."""
        call = normalize_call(inputs, target=target, additional_forward_args=additional_forward_args)
        bl = baseline_distribution(baselines, inputs, "LayerGradientShap")
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples must be an int >= 1, got {n_samples!r}")
        sds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(call.inputs)
        if len(sds) != len(call.inputs):
            raise InputError(f"stdevs has {len(sds)} entries for {len(call.inputs)} inputs")
        n, k = call.n, n_samples
        noisy, bases, alpha, tgt, args = shap_draws(call.inputs, bl, target, call.additional_args, k, sds, seed)
        rows = n * k
        bases = tuple(b.expand_as(x) if b.shape[0] != rows else b for b, x in zip(bases, noisy))

        def build(r0: int, r1: int) -> Tuple[Tensor, ...]:
            return tuple(alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1)) * x[r0:r1]
                         + (1.0 - alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1))) * b[r0:r1]
                         for x, b in zip(noisy, bases))

        parts: List[Tuple[Tensor, ...]] = []
        for ch in iterate_gradients(self.forward_func, RowPlan(build, rows, noisy, tgt, args, tag="lgshap"),
                                    Layer(self.layer, attribute_to_layer_input),
                                    Sizing(None, max_batch, max_memory)):
            parts.append(ch.grads)
        grads = tuple(torch.cat(gs) for gs in zip(*parts))
        if self._multiply_by_inputs:
            at_x, _ = layer_eval(self.forward_func, self.layer, noisy, args, attribute_to_layer_input)
            at_b, _ = layer_eval(self.forward_func, self.layer, bases, args, attribute_to_layer_input)
            attrs = tuple((x - b) * g for x, b, g in zip(at_x, at_b, grads))
        else:
            attrs = grads
        means = tuple(a.reshape((n, k) + tuple(a.shape[1:])).sum(dim=1) * 1 / k for a in attrs)
        out = per_layer(call, means, [len(means)], False)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bases, noisy, tgt, args)
        return out
