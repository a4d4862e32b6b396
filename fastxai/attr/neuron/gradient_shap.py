"""NeuronGradientShap: GradientShap's expected gradients for one neuron of a layer (Captum 0.9
signature and draw order; ``seed=`` for counter-based draws): the engine's row plan with the
:class:`~fastxai.engine.wrt.Neuron` strategy."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor, nn

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.neuron._common import NeuronGradientBase
from fastxai.engine.baselines import baseline_distribution, shap_draws
from fastxai.engine.gradient import Sizing, check_float_inputs, iterate_gradients
from fastxai.engine.steps import RowPlan
from fastxai.engine.wrt import Neuron, NeuronSelector


class NeuronGradientShap(NeuronGradientBase):
    """SHAP values of one neuron approximated by expected gradients over a baseline
    distribution (M, ...), random path points and optional input noise."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float = 0.0,
        additional_forward_args: Optional[Any] = None,
        attribute_to_neuron_input: bool = False,
        *,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) or a tuple -> attributions of the same shapes."""
        call = normalize_call(inputs, additional_forward_args=additional_forward_args)
        check_float_inputs(call.inputs)
        bl = baseline_distribution(baselines, inputs, "NeuronGradientShap")
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples must be an int >= 1, got {n_samples!r}")
        sds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(call.inputs)
        n, k = call.n, n_samples
        noisy, bases, alpha, tgt, args = shap_draws(call.inputs, bl, None, call.additional_args, k, sds, seed)
        rows = n * k

        def build(r0: int, r1: int) -> Tuple[Tensor, ...]:
            return tuple(alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1)) * x[r0:r1]
                         + (1.0 - alpha[r0:r1].reshape((-1,) + (1,) * (x.dim() - 1)))
                         * (b[r0:r1] if b.shape[0] == rows else b)
                         for x, b in zip(noisy, bases))

        grads = [torch.empty_like(x) for x in noisy]
        wrt = Neuron(self.layer, neuron_selector, attribute_to_neuron_input)
        for ch in iterate_gradients(self.forward_func, RowPlan(build, rows, noisy, tgt, args, tag="gshap"),
                                    wrt, Sizing(None, max_batch, max_memory)):
            for g_all, g in zip(grads, ch.grads):
                g_all[ch.s0:ch.s1] = g
        with torch.no_grad():
            attrs = (tuple((x - b) * g for x, b, g in zip(noisy, bases, grads))
                     if self._multiply_by_inputs else tuple(grads))
            means = tuple(a.reshape((n, k) + tuple(a.shape[1:])).sum(dim=1) * 1 / k for a in attrs)
        return format_result(call, means)
