"""Modified-ReLU backward rules (GuidedBackprop, Deconvolution and their neuron / Grad-CAM
forms): the backward pass through every ``nn.ReLU`` module is replaced (guided: ReLU of the
ReLU's input gradient; deconvolution: ReLU of its output gradient). Functional relus are
untouched, as in Captum."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from fastxai._captum.errors import InputError
from fastxai.engine.hooks import override_backward


def guided_rule(module: nn.Module, x: Tensor, y: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """Guided backprop: ReLU of the gradient where the ReLU's input was positive."""
    pos = x > 0
    return lambda g, plain: torch.relu(torch.where(pos, g, torch.zeros_like(g)))


def deconv_rule(module: nn.Module, x: Tensor, y: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """Deconvolution: ReLU of the gradient arriving at the ReLU's output."""
    return lambda g, plain: torch.relu(plain)


RULES = {"guided": guided_rule, "deconv": deconv_rule}


def require_module(model: object, who: str) -> None:
    """Hook-based methods need an nn.Module."""
    if not isinstance(model, nn.Module):
        raise InputError(f"{who} needs an nn.Module model, got {type(model).__name__}")


@contextlib.contextmanager
def modified_relu(model: nn.Module, kind: str) -> Iterator[None]:
    """Inside, every ``nn.ReLU`` of ``model`` back-propagates by rule ``kind`` (guided / deconv)."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    with override_backward(relus, RULES[kind]):
        yield
