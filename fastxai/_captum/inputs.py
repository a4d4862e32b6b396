"""Normalising Captum-style ``inputs``, ``baselines`` and ``additional_forward_args``."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.engine.forward import expand_additional_args  # noqa: F401  (moved; still importable here)

TensorOrTuple = Union[Tensor, Tuple[Tensor, ...]]
BaselineType = Union[None, Tensor, int, float, Tuple[Union[Tensor, int, float], ...]]


def format_inputs(
    inputs: TensorOrTuple, name: str = "inputs", same_batch: bool = True
) -> Tuple[Tuple[Tensor, ...], bool]:
    """Return ``(tuple_of_tensors, was_tuple)``. Each tensor is (N, ...) with the same N.

    ``same_batch=False`` lifts the shared-N rule for the perturbation methods: Captum's
    ablation / occlusion / permutation accept "sparse" tensors (e.g. an index list of any
    length, or an empty tensor) whose dim 0 is not the batch; each such tensor is repeated
    whole per perturbation, as Captum does.
    """
    is_tuple = isinstance(inputs, tuple)
    tup = inputs if is_tuple else (inputs,)
    for i, t in enumerate(tup):
        if not isinstance(t, Tensor):
            raise InputError(f"{name}[{i}] must be a torch.Tensor, got {type(t).__name__}")
    if len(tup) > 1 and same_batch:
        n0 = tup[0].shape[0] if tup[0].dim() > 0 else None
        for i, t in enumerate(tup[1:], 1):
            if t.dim() == 0 or t.shape[0] != n0:
                raise InputError(
                    f"all {name} must share the batch dimension 0: {name}[0] has "
                    f"{n0} examples, {name}[{i}] has shape {tuple(t.shape)}"
                )
    return tup, is_tuple


def format_output(is_tuple: bool, outputs: Sequence[Tensor]) -> TensorOrTuple:
    """Mirror the input form: a tuple for tuple inputs, else the single tensor."""
    return tuple(outputs) if is_tuple else outputs[0]


def format_baselines(
    baselines: BaselineType,
    inputs: Tuple[Tensor, ...],
    name: str = "baselines",
    broadcast: bool = False,
) -> Tuple[Union[Tensor, int, float], ...]:
    """One baseline per input: None -> 0; each a scalar, a tensor of the input's shape, or
    a tensor whose first dim is 1 and other dims equal the input's (broadcast over N).

    ``broadcast=True`` (the perturbation methods) also accepts any tensor that broadcasts
    to the input's (N, *S) shape, e.g. (S_last,) or (N, 1): Captum's ablation and occlusion
    never validate baselines, they only mix them in with broadcasting arithmetic.
    """
    if baselines is None:
        return tuple(0 for _ in inputs)
    tup = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(tup) != len(inputs):
        raise InputError(
            f"{name} must have one entry per input tensor: got {len(tup)} baselines for "
            f"{len(inputs)} inputs"
        )
    for i, (b, x) in enumerate(zip(tup, inputs)):
        if isinstance(b, Tensor):
            same = b.shape == x.shape
            bcast = b.dim() == x.dim() and b.shape[0] == 1 and b.shape[1:] == x.shape[1:]
            if broadcast and not (same or bcast) and b.dim() <= x.dim():
                try:
                    bcast = torch.broadcast_shapes(tuple(b.shape), tuple(x.shape)) == x.shape
                except RuntimeError:
                    bcast = False
            if not (same or bcast or b.numel() == 1):
                raise InputError(
                    f"{name}[{i}] has shape {tuple(b.shape)} but input {i} has shape "
                    f"{tuple(x.shape)}: give a scalar, a tensor of the input's shape, or one "
                    f"of shape {(1,) + tuple(x.shape[1:])} broadcast over the batch"
                )
        elif not isinstance(b, (int, float)):
            raise InputError(f"{name}[{i}] must be a tensor, int or float, got {type(b).__name__}")
    return tup


def format_additional_args(args: Any) -> Optional[Tuple[Any, ...]]:
    """``None`` stays None; a non-tuple becomes a 1-tuple."""
    if args is None:
        return None
    return args if isinstance(args, tuple) else (args,)


def baseline_dtype(b: Union[Tensor, int, float], x: Tensor, scalar_in_input_dtype: bool = False) -> torch.dtype:
    """The dtype of the baseline, and of the perturbed rows: ``x``'s, except for an integer
    (or bool) ``x`` with a float baseline, where Captum's ``x·(1 − m) + b·m`` promotes the
    rows to the baseline's float dtype (a Python float: the default dtype). Captum's Shapley
    classes fill a scalar baseline with ``torch.full_like(x, b)``, in ``x``'s dtype
    (``scalar_in_input_dtype``)."""
    if x.is_floating_point() or x.is_complex():
        return x.dtype
    if isinstance(b, Tensor):
        return b.dtype if b.is_floating_point() else x.dtype
    if isinstance(b, float) and not scalar_in_input_dtype:
        return torch.get_default_dtype()
    return x.dtype


def baseline_tensor(b: Union[Tensor, int, float], x: Tensor, scalar_in_input_dtype: bool = False) -> Tensor:
    """The baseline as a tensor broadcastable to ``x`` (N, ...) on its device, in
    :func:`baseline_dtype` (``x``'s dtype but for integer inputs with float baselines)."""
    dtype = baseline_dtype(b, x, scalar_in_input_dtype)
    if isinstance(b, Tensor):
        b = b.to(device=x.device, dtype=dtype)
        if b.numel() == 1 and b.dim() != x.dim():
            return b.reshape((1,) * x.dim())
        if b.dim() < x.dim():  # a broadcastable lower-rank baseline: align it to the right
            return b.reshape((1,) * (x.dim() - b.dim()) + tuple(b.shape))
        return b
    return torch.full((1,) * x.dim(), b, dtype=dtype, device=x.device)
