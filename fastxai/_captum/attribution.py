"""Base classes carrying the small part of Captum's object contract that code relies on:
``attribute.__wrapped__``, ``has_convergence_delta()``, ``multiplies_by_inputs``, ``get_name()``.

One level only: every fastxai method class derives from exactly one of these.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from fastxai.engine.checks import preflight


def log_usage(func: Callable[..., Any]) -> Callable[..., Any]:
    """The entry of every ``attribute``: runs :func:`fastxai.engine.checks.preflight` (empty
    batch, ``max_batch`` / ``max_memory``, BatchNorm or stochastic modules in training mode)
    before the method's first forward, then the method. ``attribute.__wrapped__`` is the
    unchecked method, as Captum's ``log_usage`` exposes it (NoiseTunnel calls it per batch).
    """
    sig = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind(self, *args, **kwargs).arguments
        except TypeError:
            return func(self, *args, **kwargs)  # the method reports its own argument error
        extra = next((v for k, v in bound.items()
                      if sig.parameters[k].kind is inspect.Parameter.VAR_KEYWORD), {})
        caps = {k: bound.get(k, extra.get(k)) for k in ("max_batch", "max_memory")}
        preflight(getattr(self, "forward_func", None), bound.get("inputs"), **caps)
        return func(self, *args, **kwargs)

    return wrapper


class Attribution:
    """Base of every attribution method. ``forward_func`` is the model or any callable."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        self.forward_func = forward_func

    attribute: Callable[..., Any]

    def attribute_future(self, *args: Any, **kwargs: Any) -> Any:
        """Futures-returning forwards are not supported by fastxai's batched engine."""
        raise NotImplementedError(
            f"attribute_future is not implemented for {type(self).__name__}"
        )

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute`` accepts ``return_convergence_delta``."""
        return False

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by (inputs - baselines) (global attribution)."""
        return False

    @classmethod
    def get_name(cls) -> str:
        """The class name split at capitals: ``IntegratedGradients`` -> ``Integrated Gradients``."""
        # Captum's rule exactly: a space before every non-lower-case character but the first.
        return "".join(
            ch if ch.islower() or i == 0 else " " + ch for i, ch in enumerate(cls.__name__)
        )


class PerturbationAttribution(Attribution):
    """Methods that only evaluate the model (no gradients)."""

    @property
    def multiplies_by_inputs(self) -> bool:
        return True


class GradientAttribution(Attribution):
    """Methods that differentiate the model output with respect to its inputs."""

    def compute_convergence_delta(
        self,
        attributions: Any,
        start_point: Any,
        end_point: Any,
        target: Any = None,
        additional_forward_args: Any = None,
    ) -> Tensor:
        """delta = sum(attributions) - (f(end_point) - f(start_point)), shape (N,)."""
        from fastxai._captum.forward import run_forward
        from fastxai._captum.errors import InputError
        from fastxai._captum.inputs import format_additional_args, format_inputs

        attrs, _ = format_inputs(attributions, "attributions")
        end, _ = format_inputs(end_point, "end_point")
        for i, (a, e) in enumerate(zip(attrs, end)):
            if a.shape[0] != e.shape[0]:
                raise InputError(
                    f"attributions[{i}] has {a.shape[0]} rows but end_point[{i}] has "
                    f"{e.shape[0]}: they must match on the first dimension"
                )
        if start_point is None:
            start_point = 0.0
        start = start_point if isinstance(start_point, tuple) else (start_point,)
        start = tuple(
            s if isinstance(s, Tensor) else torch.full_like(e, float(s)) for s, e in zip(start, end)
        )
        start = tuple(s.expand_as(e) if s.shape != e.shape else s for s, e in zip(start, end))
        args = format_additional_args(additional_forward_args)
        with torch.no_grad():
            f_end = run_forward(self.forward_func, end, target, args).reshape(end[0].shape[0], -1)
            f_start = run_forward(self.forward_func, start, target, args).reshape(end[0].shape[0], -1)
        total = sum(a.reshape(a.shape[0], -1).sum(dim=1) for a in attrs)
        return total.to(f_end.dtype) - (f_end.sum(dim=1) - f_start.sum(dim=1))


class LayerAttribution(Attribution):
    """Methods that attribute to (or through) an internal layer."""

    def __init__(
        self, forward_func: Callable[..., Any], layer: nn.Module, device_ids: Optional[list] = None
    ) -> None:
        super().__init__(forward_func)
        self.layer = layer
        self.device_ids = device_ids

    @staticmethod
    def interpolate(
        layer_attribution: Tensor,
        interpolate_dims: Any,
        interpolate_mode: str = "nearest",
    ) -> Tensor:
        """Upsample (N, C, *dims) layer attributions with ``F.interpolate``."""
        return torch.nn.functional.interpolate(
            layer_attribution, interpolate_dims, mode=interpolate_mode
        )


class NeuronAttribution(Attribution):
    """Methods that attribute one neuron of an internal layer to the inputs (Captum's base of
    the Neuron* classes): ``(forward_func, layer, device_ids=None)``."""

    def __init__(
        self, forward_func: Callable[..., Any], layer: nn.Module, device_ids: Optional[list] = None
    ) -> None:
        super().__init__(forward_func)
        self.layer = layer
        self.device_ids = device_ids

    def attribute(self, inputs: Any, neuron_selector: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Implemented by each Neuron* method."""
        raise NotImplementedError("Deriving class should implement attribute method")
