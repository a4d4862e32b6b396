"""Shared CAM pieces: layer checks and the weighted channel sum."""
from __future__ import annotations

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor

from fastxai._captum.errors import InputError


def single(tensors: Tuple[Tensor, ...], name: str) -> Tensor:
    """The one (N, C, *S) tensor of a layer (raises naming the method otherwise)."""
    if len(tensors) != 1:
        raise InputError(f"{name} needs a layer with one output tensor, got {len(tensors)}")
    a = tensors[0]
    if a.dim() < 3:
        raise InputError(f"{name} needs a layer output (N, C, *spatial), got shape {tuple(a.shape)}")
    return a


def combine(weights: Tensor, acts: Tensor, relu: bool) -> Tensor:
    """sum_c w[n, c] * A[n, c] -> (N, 1, *S), optional ReLU."""
    w = weights.reshape(weights.shape[:2] + (1,) * (acts.dim() - 2))
    cam = (w * acts).sum(dim=1, keepdim=True)
    return F.relu(cam) if relu else cam
