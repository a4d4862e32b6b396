"""The ``captum.metrics`` calling conventions for ``fastxai.metrics`` (private).

Target / argument expansion and the forward call delegate to :mod:`fastxai._captum` (with
captum.metrics' repeat_interleave layout); what is specific to the metrics (``safe_div``,
Captum's chunking of perturbation samples, optional baselines) lives here.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum import forward as _forward
from fastxai._captum.errors import InputError
from fastxai._captum import inputs as _inputs
from fastxai._captum import targets as _targets


# Tensor -> (tensor,); tuple stays; None stays None (the same rule as additional args).
as_tuple = _inputs.format_additional_args

def format_baselines(baselines: Any, inputs: Tuple[Tensor, ...]) -> Optional[Tuple[Any, ...]]:
    """Captum baseline formatting: None, scalar, tensor or tuple -> tuple aligned with inputs."""
    if baselines is None:
        return None
    b = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(b) != len(inputs):
        raise ValueError(f"baselines has {len(b)} entries, inputs {len(inputs)}")
    return b


def expand_target(target: Any, n: int) -> Any:
    """repeat_interleave expansion of a Captum target by n (Captum's metrics layout)."""
    return _targets.expand_target(target, n, interleave=True)


def expand_args(args: Optional[Tuple[Any, ...]], n: int) -> Optional[Tuple[Any, ...]]:
    """repeat_interleave tensors (dim > 0) in additional_forward_args; other values unchanged."""
    return _inputs.expand_additional_args(args, n, interleave=True)


format_args = _inputs.format_additional_args
select_targets = _targets.select_targets


def run_forward(forward_func: Callable[..., Tensor], inputs: Tuple[Tensor, ...], target: Any,
                args: Optional[Tuple[Any, ...]]) -> Tensor:
    """forward_func(*inputs, *args) then target selection (no finite check, as captum.metrics)."""
    return _forward.run_forward(forward_func, inputs, target, args, check_finite=False)


def safe_div(num: Tensor, den: Union[Tensor, float], default_denom: float = 1.0) -> Tensor:
    """num / den with zeros in den replaced by ``default_denom``."""
    if not isinstance(den, Tensor):
        return num / (den if den != 0 else default_denom)
    return num / torch.where(den != 0, den, torch.tensor(default_denom, dtype=den.dtype, device=den.device))


def check_counts(n_perturb_samples: Any, max_examples_per_batch: Any) -> None:
    """``n_perturb_samples`` >= 1 and ``max_examples_per_batch`` None or >= 1, else ``InputError``
    naming the argument (Captum divides by zero or loops forever there), before any forward."""
    for name, v, optional in (("n_perturb_samples", n_perturb_samples, False),
                              ("max_examples_per_batch", max_examples_per_batch, True)):
        if v is None and optional:
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 1:
            raise InputError(f"{name} must be an integer >= 1{' or None' if optional else ''}, got {v!r}")


def chunk_sizes(bsz: int, n_perturb_samples: int, max_examples_per_batch: Optional[int]) -> List[int]:
    """Perturbation samples per chunk, in Captum's order (``_divide_and_aggregate_metrics``)."""
    if max_examples_per_batch is not None and (
        max_examples_per_batch // bsz < 1 or max_examples_per_batch // bsz > n_perturb_samples
    ):
        warnings.warn(
            "`max_examples_per_batch` must be at least equal to the input batch size and at most to "
            f"`input batch size` * `n_perturb_samples`; got {max_examples_per_batch} for batch size {bsz}.",
            stacklevel=3,
        )
    step = n_perturb_samples if max_examples_per_batch is None else min(
        max(max_examples_per_batch // bsz, 1), n_perturb_samples)
    sizes, done = [], 0
    while done < n_perturb_samples:
        sizes.append(min(step, n_perturb_samples - done))
        done += sizes[-1]
    return sizes
