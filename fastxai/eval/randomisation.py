"""Model-parameter randomisation sanity check (Adebayo et al. 2018; Quantus ``MPRT``).

Layers with parameters are re-initialised (``reset_parameters()``) one after another on a copy
of the model — ``order="top_down"`` (output layer first, cascading, Quantus' default),
``"bottom_up"`` (cascading from the input) or ``"independent"`` (one layer at a time) — and
after each step the explanation is recomputed and compared to the original one per sample by
Spearman rank correlation (average ranks for ties; ``abs=True`` compares |a| as Quantus).
Re-initialisation draws from ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` so the
caller's RNG state is untouched. The model passed in is never modified.
"""
from __future__ import annotations

import math
import copy
from typing import Callable, Dict, List, Tuple

import torch

from fastxai.eval.errors import InputError, check_same_n
from fastxai.eval.ranking import average_ranks

ExplainFunc = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Spearman correlation (average ranks). a, b: (N, ...) -> (N,) float64 (NaN if constant)."""
    n = a.shape[0]
    ra = _ranks(a.reshape(n, math.prod(a.shape[1:])).to(torch.float64))
    rb = _ranks(b.reshape(n, math.prod(b.shape[1:])).to(torch.float64))
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))


def _ranks(x: torch.Tensor) -> torch.Tensor:
    ranks_sorted, order = average_ranks(x)
    out = torch.empty_like(ranks_sorted)
    return out.scatter_(1, order, ranks_sorted)


def _param_layers(model: torch.nn.Module) -> List[Tuple[str, torch.nn.Module]]:
    return [(name, mod) for name, mod in model.named_modules()
            if hasattr(mod, "reset_parameters") and any(True for _ in mod.parameters(recurse=False))]


def model_parameter_randomisation(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    explain_func: ExplainFunc,
    *,
    order: str = "top_down",
    seed: int = 42,
    abs: bool = True,
) -> Dict[str, torch.Tensor]:
    """Similarity of explanations of the trained vs progressively randomised model.

    Args:
        model: the trained model (left unchanged).
        inputs: (N, ...) inputs; targets: (N,) class indices.
        explain_func: ``(model, inputs, targets) -> attributions (N, ...)``.
        order: ``top_down`` | ``bottom_up`` | ``independent``.
    Returns:
        Ordered dict layer name -> (N,) Spearman correlation with the original explanation.
    """
    if order not in ("top_down", "bottom_up", "independent"):
        raise InputError(f"order must be top_down|bottom_up|independent, got {order!r}")
    targets = torch.as_tensor(targets)
    check_same_n(inputs=inputs, targets=targets)
    original = explain_func(model, inputs, targets).detach()
    if abs:
        original = original.abs()
    work = copy.deepcopy(model)
    layers = _param_layers(work)
    if not layers:
        raise InputError("model has no layers with parameters and reset_parameters()")
    if order != "bottom_up":
        layers = layers[::-1]
    out: Dict[str, torch.Tensor] = {}
    for name, layer in layers:
        if order == "independent":
            work = copy.deepcopy(model)
            layer = dict(work.named_modules())[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layer.reset_parameters()
        expl = explain_func(work, inputs, targets).detach()
        out[name] = spearman(original, expl.abs() if abs else expl)
    return out
