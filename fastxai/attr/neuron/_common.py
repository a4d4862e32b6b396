"""Shared neuron-family pieces: the constructor of neuron methods that differentiate
(``NeuronAttribution`` + ``GradientAttribution``, as Captum's Neuron* gradient classes) and
Captum's warning for callable selectors."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

from torch import nn

from fastxai._captum.attribution import GradientAttribution, NeuronAttribution


class NeuronGradientBase(NeuronAttribution, GradientAttribution):
    """``(forward_func, layer, device_ids=None)``: a neuron method that differentiates."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[list] = None) -> None:
        NeuronAttribution.__init__(self, forward_func, layer, device_ids)


def warn_callable_selector(neuron_selector: Any) -> None:
    """Captum's warning (NeuronConductance) for a callable neuron selector."""
    if callable(neuron_selector):
        warnings.warn(
            "The neuron_selector provided is a callable. Please ensure that this function only "
            "selects neurons from the given layer; aggregating or performing other operations "
            "on the tensor may lead to inaccurate results.",
            stacklevel=3,
        )
