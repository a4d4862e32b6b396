"""Shared tester: one batch == many batches == merged shards == pickled, for any Metric."""
from __future__ import annotations

import pickle
from typing import Any, Callable, Dict, List

import torch

from fastxai.eval.state import Metric


def _slice(value: Any, lo: int, hi: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return value[lo:hi]
    if isinstance(value, list):
        return value[lo:hi]
    return value


def as_comparable(x: Any) -> Any:
    """Results as nested python/tensor structures (objects with to_dict() are converted)."""
    if hasattr(x, "to_dict"):
        return as_comparable(x.to_dict())
    if isinstance(x, dict):
        return {k: as_comparable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [as_comparable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64)
    if isinstance(x, (int, float)):
        return torch.tensor(float(x), dtype=torch.float64)
    return x


def assert_close(a: Any, b: Any, atol: float = 1e-9) -> None:
    a, b = as_comparable(a), as_comparable(b)
    if isinstance(a, dict):
        assert set(a) == set(b), (set(a), set(b))
        for k in a:
            assert_close(a[k], b[k], atol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y, atol)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, atol=atol, rtol=0, equal_nan=True)
    else:
        assert a == b, (a, b)


def check_batching(make: Callable[[], Metric], data: Dict[str, Any], n: int,
                   splits: List[int] = (3, 7), atol: float = 1e-9) -> Any:
    """Update ``make()`` with ``data`` (dict of per-sample tensors/lists of length n) in one
    batch, in batches cut at ``splits``, as two merged shards, and after pickling; all equal."""
    whole = make()
    whole.update(**data)
    ref = whole.compute()

    cuts = [0, *splits, n]
    batched = make()
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        batched.update(**{k: _slice(v, lo, hi) for k, v in data.items()})
    assert_close(batched.compute(), ref, atol)

    a, b = make(), make()
    a.update(**{k: _slice(v, 0, splits[0]) for k, v in data.items()})
    b.update(**{k: _slice(v, splits[0], n) for k, v in data.items()})
    assert_close(a.merge(b).compute(), ref, atol)

    restored = pickle.loads(pickle.dumps(batched))
    assert_close(restored.compute(), ref, atol)
    restored.reset()
    restored.update(**data)
    assert_close(restored.compute(), ref, atol)
    return ref
