"""``attribute_future``: Captum's entry for forward functions that return a
``torch.futures.Future`` (FeatureAblation, FeaturePermutation, ShapleyValueSampling,
ShapleyValues in Captum 0.9).

fastxai runs the same batched call as ``attribute`` on a forward that waits for each future
(one chunk of perturbations at a time), and returns a completed ``Future`` holding Captum's
numbers. Argument errors raise at the call, as ``attribute``'s do.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch

from fastxai._captum.errors import InputError


class AwaitingForward:
    """``forward_func`` whose outputs are futures, called the synchronous way: each call
    waits for its future. ``__self__`` is the model behind the user's forward (the module,
    or a bound method's owner), so the preflight and the chunk-size cache see the same model
    as ``attribute`` does."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        self.forward_func = forward_func
        self.__self__ = getattr(forward_func, "__self__", forward_func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward_func(*args, **kwargs)
        if not isinstance(out, torch.futures.Future):
            raise InputError(
                "attribute_future needs a forward_func returning a torch.futures.Future, got "
                f"{type(out).__name__}; call attribute instead"
            )
        return out.wait()


def attribute_future(method: Any, *args: Any, **kwargs: Any) -> "torch.futures.Future[Any]":
    """``method.attribute(*args, **kwargs)`` on a futures-returning forward, as a completed
    ``torch.futures.Future`` of the attributions (tensor or tuple, as ``attribute``)."""
    awaited = copy.copy(method)
    awaited.forward_func = AwaitingForward(method.forward_func)
    result = awaited.attribute(*args, **kwargs)
    fut: torch.futures.Future[Any] = torch.futures.Future()
    fut.set_result(result)
    # ``then`` gives a plain ``torch.Future`` (torch._C.Future), the type Captum returns.
    return fut.then(lambda done: done.value())
