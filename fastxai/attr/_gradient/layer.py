"""Layer methods: LayerActivation, LayerGradientXActivation, LayerGradCam, LayerConductance,
LayerIntegratedGradients (Captum 0.9 signatures), and GuidedGradCam.

Layer tensors come from forward hooks (:class:`fastxai.engine.hooks.LayerCapture`); a layer that
the forward never calls raises an error naming it.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.attribution import GradientAttribution, LayerAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.forward import call_forward
from fastxai._captum.inputs import (
    BaselineType,
    TensorOrTuple,
    baseline_tensor,
    format_additional_args,
    format_baselines,
    format_inputs,
    format_output,
)
from fastxai._captum.targets import TargetType
from fastxai.attr._gradient.guided import GuidedBackprop
from fastxai.attr._gradient.integrated_gradients import integrate_path
from fastxai.attr._gradient.paths import check_steps, step_sizes_and_alphas
from fastxai.engine.gradient import iterate_gradients, layer_eval, layer_gradients_and_evals
from fastxai.engine.hooks import LayerCapture
from fastxai.ops.ig_path import ig_interpolate


class _LayerGradient(LayerAttribution, GradientAttribution):
    """Shared constructor: ``(forward_func, layer, device_ids=None)``."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)


class LayerActivation(LayerAttribution):
    """The layer's output (input) values; a list of layers gives a list of results."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None) -> None:
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
    ) -> Any:
        """inputs (N, ...) -> the layer's tensor(s) (N, ...layer dims)."""
        tup, _ = format_inputs(inputs)
        args = format_additional_args(additional_forward_args)
        layers = self.layer if isinstance(self.layer, list) else [self.layer]
        caps = [LayerCapture(self.forward_func, l, use_input=attribute_to_layer_input) for l in layers]
        with torch.no_grad(), contextlib.ExitStack() as stack:
            for c in caps:
                stack.enter_context(c)
            call_forward(self.forward_func, tup, args)
        res = [format_output(len(c.tensors) > 1, tuple(t.detach() for t in c.tensors)) for c in caps]
        return res if isinstance(self.layer, list) else res[0]

    @property
    def multiplies_by_inputs(self) -> bool:
        return True


class LayerGradientXActivation(_LayerGradient):
    """layer activation * d output / d activation (gradient only if not multiply_by_inputs).
    A list of layers gives a list of results, one per layer, as in Captum."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> (N, ...layer dims), a tuple for multi-tensor layers (a list of
        those for a list of layers)."""
        tup, _ = format_inputs(inputs)
        args = format_additional_args(additional_forward_args)
        layers = self.layer if isinstance(self.layer, list) else [self.layer]
        res = []
        for layer in layers:
            # the gradient w.r.t. one layer does not depend on the others being captured
            grads, evals, _ = layer_gradients_and_evals(
                self.forward_func, layer, tup, target, args, attribute_to_layer_input, grad_kwargs,
            )
            out = tuple(g * e for g, e in zip(grads, evals)) if self._multiply_by_inputs else grads
            res.append(format_output(len(out) > 1, out))
        return res if isinstance(self.layer, list) else res[0]


class LayerGradCam(_LayerGradient):
    """Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of the layer gradients;
    map = sum_c w_c A_c (N, 1, *spatial), optional ReLU."""

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> TensorOrTuple:
        """inputs (N, ...) -> (N, 1, H', W') (channels kept if not attr_dim_summation)."""
        tup, _ = format_inputs(inputs)
        grads, evals, _ = layer_gradients_and_evals(
            self.forward_func, self.layer, tup, target, format_additional_args(additional_forward_args),
            attribute_to_layer_input, grad_kwargs,
        )
        weights = tuple(
            g.mean(dim=tuple(range(2, g.dim())), keepdim=True) if g.dim() > 2 else g for g in grads
        )
        if attr_dim_summation:
            maps = tuple((w * e).sum(dim=1, keepdim=True) for w, e in zip(weights, evals))
        else:
            maps = tuple(w * e for w, e in zip(weights, evals))
        if relu_attributions:
            maps = tuple(F.relu(m) for m in maps)
        return format_output(len(maps) > 1, maps)


class GuidedGradCam(GradientAttribution):
    """GuidedBackprop * upsampled ReLU(Grad-CAM) (Selvaraju et al. 2017)."""

    def __init__(self, model: nn.Module, layer: nn.Module, device_ids: Optional[list] = None) -> None:
        super().__init__(model)
        self.grad_cam = LayerGradCam(model, layer, device_ids)
        self.guided_backprop = GuidedBackprop(model)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Optional[Any] = None,
        interpolate_mode: str = "nearest",
        attribute_to_layer_input: bool = False,
    ) -> TensorOrTuple:
        """inputs (N, C, H, W) or a tuple -> attributions of the same shapes."""
        tup, is_tuple = format_inputs(inputs)
        cam = self.grad_cam.attribute.__wrapped__(
            self.grad_cam, inputs=tup, target=target, additional_forward_args=additional_forward_args,
            attribute_to_layer_input=attribute_to_layer_input, relu_attributions=True,
        )
        if isinstance(cam, tuple):
            if len(cam) != 1:
                raise InputError("GuidedGradCAM attributions for layer with multiple inputs / outputs is not supported.")
            cam = cam[0]
        gbp = self.guided_backprop.attribute.__wrapped__(
            self.guided_backprop, inputs=tup, target=target, additional_forward_args=additional_forward_args,
        )
        out = []
        for i, x in enumerate(tup):
            try:
                out.append(gbp[i] * LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode))
            except Exception:
                warnings.warn(
                    "Couldn't appropriately interpolate GradCAM attributions for some input tensors, "
                    "returning empty tensor for corresponding attributions.",
                    stacklevel=2,
                )
                out.append(torch.empty(0))
        return format_output(is_tuple, out)


def _tensorize(bl: Tuple[Any, ...], xs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    return tuple(baseline_tensor(b, x).expand_as(x) for b, x in zip(bl, xs))


class LayerIntegratedGradients(_LayerGradient):
    """Integrated gradients of the layer's output (input) between its values at the baselines
    and at the inputs; the interpolated layer tensors replace the layer's on each step.

    With a list of layers (as in Captum) all of them are interpolated and replaced in the same
    forward, and the result is a list with one entry per layer."""

    def __init__(self, forward_func: Callable[..., Any], layer: Union[nn.Module, List[nn.Module]],
                 device_ids: Optional[list] = None, multiply_by_inputs: bool = True) -> None:
        if isinstance(layer, list):
            if not layer:
                raise InputError("layer: an empty list of layers was given")
            if len(layer) > 1:
                warnings.warn(
                    "Multiple layers provided. Please ensure that each layer is **not** solely "
                    "dependent on the outputs of another layer.",
                    stacklevel=2,
                )
        super().__init__(forward_func, layer, device_ids)  # type: ignore[arg-type]
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
        """inputs (N, ...) -> (N, ...layer dims) (a tuple for multi-tensor layers, a list of
        those for a list of layers); delta (N,)."""
        tup, _ = format_inputs(inputs)
        bl = _tensorize(format_baselines(baselines, tup), tup)
        check_steps(n_steps, method)
        args = format_additional_args(additional_forward_args)
        layers = self.layer if isinstance(self.layer, list) else [self.layer]
        x_evals = [layer_eval(self.forward_func, l, tup, args, attribute_to_layer_input)[0] for l in layers]
        b_evals = [layer_eval(self.forward_func, l, bl, args, attribute_to_layer_input)[0] for l in layers]
        counts = [len(e) for e in x_evals]
        x_layer = tuple(t for e in x_evals for t in e)
        b_layer = tuple(t for e in b_evals for t in e)
        total = integrate_path(
            self.forward_func, x_layer, b_layer, target, args, n_steps, method,
            internal_batch_size, max_batch, max_memory,
            layer=self.layer if isinstance(self.layer, list) else layers[0],
            layer_input=attribute_to_layer_input, model_inputs=tuple(t.detach() for t in tup),
            layer_counts=counts, grad_kwargs=grad_kwargs,
        )
        if self._multiply_by_inputs:
            attrs = tuple(t * (x - b) for t, x, b in zip(total, x_layer, b_layer))
        else:
            attrs = total
        bounds = [sum(counts[:i]) for i in range(len(counts) + 1)]
        per_layer = [
            format_output(counts[i] > 1, attrs[bounds[i]:bounds[i + 1]]) for i in range(len(layers))
        ]
        out = per_layer if isinstance(self.layer, list) else per_layer[0]
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bl, tup, target, additional_forward_args)
        return out


class LayerConductance(_LayerGradient):
    """Conductance of a layer (Dhamdhere et al. 2018): sum over path steps of
    (layer value at step s+1 - at step s) * d output / d layer at step s."""

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
        tup, _ = format_inputs(inputs)
        fb = format_baselines(baselines, tup)
        check_steps(n_steps, method)
        bs = tuple(baseline_tensor(b, x) for b, x in zip(fb, tup))
        args = format_additional_args(additional_forward_args)
        _, alphas = step_sizes_and_alphas(method, n_steps + 1)
        a = torch.tensor(alphas, dtype=torch.float64)
        n = tup[0].shape[0]

        def build(s0: int, s1: int) -> Tuple[Tuple[Tensor, ...], None]:
            with torch.no_grad():
                return tuple(ig_interpolate(x.detach(), b, a[s0:s1]) for x, b in zip(tup, bs)), None

        acc: Optional[List[Tensor]] = None
        prev: Optional[Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]] = None
        for ch in iterate_gradients(
            self.forward_func, build, n_steps + 1, n, target, args, tup,
            internal_batch_size=internal_batch_size, max_batch=max_batch, max_memory=max_memory,
            layer=self.layer, layer_input=attribute_to_layer_input, mode_tag="cond",
            grad_kwargs=grad_kwargs,
        ):
            k = ch.s1 - ch.s0
            evals = tuple(e.reshape((k, n) + tuple(e.shape[1:])) for e in ch.layer)
            grads = tuple(g.reshape((k, n) + tuple(g.shape[1:])) for g in ch.grads)
            if acc is None:
                # float64, one step at a time in step order: the result does not depend on the
                # chunk boundaries (bit-identical from call to call), as in integrate_path
                acc = [torch.zeros_like(e[0], dtype=torch.promote_types(e.dtype, torch.float64))
                       for e in evals]
            for i, (e, g) in enumerate(zip(evals, grads)):
                if prev is not None:
                    acc[i].add_((e[0] - prev[0][i]) * prev[1][i])
                for j in range(k - 1):
                    acc[i].add_((e[j + 1] - e[j]) * g[j])
            prev = (tuple(e[-1] for e in evals), tuple(g[-1] for g in grads))
        attrs = tuple(a.to(e.dtype) for a, e in zip(acc or [], prev[0] if prev else ()))
        out = format_output(len(attrs) > 1, attrs)
        if return_convergence_delta:
            return out, self.compute_convergence_delta(attrs, bs, tup, target, additional_forward_args)
        return out
