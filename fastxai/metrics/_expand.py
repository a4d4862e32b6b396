"""Captum-order argument formatting and expansion for ``fastxai.metrics`` (private).

Kept local (not ``fastxai._captum``) while that module is in flux; same semantics as
captum 0.9's ``_format_tensor_into_tuples``, ``_expand_target``/``_expand_additional_forward_args``
(repeat_interleave), ``_run_forward`` and ``safe_div``. TODO(lead): fold into fastxai._captum.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor


def as_tuple(x: Any) -> Optional[Tuple[Any, ...]]:
    """Tensor -> (tensor,); tuple stays; None stays None."""
    if x is None:
        return None
    return x if isinstance(x, tuple) else (x,)


def format_baselines(baselines: Any, inputs: Tuple[Tensor, ...]) -> Optional[Tuple[Any, ...]]:
    """Captum baseline formatting: None, scalar, tensor or tuple -> tuple aligned with inputs."""
    if baselines is None:
        return None
    b = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(b) != len(inputs):
        raise ValueError(f"baselines has {len(b)} entries, inputs {len(inputs)}")
    return b


def expand_target(target: Any, n: int) -> Any:
    """repeat_interleave expansion of a Captum target by n."""
    if isinstance(target, list):
        return [t for t in target for _ in range(n)]
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.repeat_interleave(n, dim=0)
    return target


def expand_args(args: Optional[Tuple[Any, ...]], n: int) -> Optional[Tuple[Any, ...]]:
    """repeat_interleave tensors (dim > 0) in additional_forward_args; other values unchanged."""
    if args is None:
        return None
    return tuple(a.repeat_interleave(n, dim=0) if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)


def format_args(args: Any) -> Optional[Tuple[Any, ...]]:
    """additional_forward_args as a tuple (or None)."""
    if args is None:
        return None
    return args if isinstance(args, tuple) else (args,)


def select_targets(output: Tensor, target: Any) -> Tensor:
    """Captum ``_select_targets``."""
    if target is None:
        return output
    if isinstance(target, int):
        return output[:, target]
    if isinstance(target, tuple):
        return output[(slice(None), *target)]
    if isinstance(target, Tensor):
        if target.numel() == 1 and isinstance(target.item(), int):
            return output[:, int(target.item())]
        return torch.gather(output, 1, target.reshape(len(output), 1))
    if isinstance(target, list):
        if isinstance(target[0], int):
            return torch.gather(output, 1, torch.tensor(target, device=output.device).reshape(len(output), 1))
        return torch.stack([output[(i,) + tuple(t)] for i, t in enumerate(target)])
    raise ValueError(f"unsupported target type {type(target)}")


def run_forward(forward_func: Callable[..., Tensor], inputs: Tuple[Tensor, ...], target: Any,
                args: Optional[Tuple[Any, ...]]) -> Tensor:
    """forward_func(*inputs, *args) then target selection."""
    out = forward_func(*inputs, *args) if args is not None else forward_func(*inputs)
    return select_targets(out, target)


def safe_div(num: Tensor, den: Union[Tensor, float], default_denom: float = 1.0) -> Tensor:
    """num / den with zeros in den replaced by ``default_denom``."""
    if not isinstance(den, Tensor):
        return num / (den if den != 0 else default_denom)
    return num / torch.where(den != 0, den, torch.tensor(default_denom, dtype=den.dtype, device=den.device))


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
