"""One metric-state type for the evaluator: update / compute / merge / reset / sync.

A metric declares its states with ``add_state(name, default, reduce)``:

* ``reduce="sum" | "max" | "min"``: a fixed-size tensor (e.g. ``(G,)`` per-group counts)
  merged element-wise; across ranks it is one ``all_reduce``.
* ``reduce="cat"``: a list of per-batch tensors (per-sample values that a metric needs to be
  exact, e.g. scores for AUROC); merged by concatenation in (self, other) / rank order;
  across ranks via ``all_gather_object``.

Results do not depend on how data is split into batches, shards or ranks (up to float
summation order; sum states are float64 or int64). States are plain tensors, so metrics
pickle with the standard protocol.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Literal, Union

import torch
import torch.distributed as dist

Reduce = Literal["sum", "max", "min", "cat"]
StateValue = Union[torch.Tensor, List[torch.Tensor]]

_DIST_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}


class Metric:
    """Base class: subclasses call ``add_state`` in ``__init__`` and implement ``update``/``compute``."""

    def __init__(self) -> None:
        self._defaults: Dict[str, StateValue] = {}
        self._reductions: Dict[str, Reduce] = {}
        self._synced = False

    # ----------------------------------------------------------------- declaration
    def add_state(self, name: str, default: StateValue, reduce: Reduce) -> None:
        """Declare a state. ``default`` is a tensor (sum/max/min) or ``[]`` (cat)."""
        if reduce not in ("sum", "max", "min", "cat"):
            raise ValueError(f"reduce must be sum|max|min|cat, got {reduce!r}")
        if reduce == "cat" and not (isinstance(default, list) and not default):
            raise ValueError("a 'cat' state must default to an empty list")
        if reduce != "cat" and not isinstance(default, torch.Tensor):
            raise ValueError(f"state {name!r} with reduce={reduce!r} needs a tensor default")
        self._defaults[name] = default
        self._reductions[name] = reduce
        setattr(self, name, copy.deepcopy(default))

    def state_names(self) -> List[str]:
        """Names of the declared states."""
        return list(self._reductions)

    # ----------------------------------------------------------------- protocol
    def update(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> "Metric":
        """Restore every state to its default."""
        for name, default in self._defaults.items():
            setattr(self, name, copy.deepcopy(default))
        self._synced = False
        return self

    def merge(self, other: "Metric") -> "Metric":
        """Fold ``other``'s states (same class and configuration) into this metric; returns self."""
        if type(other) is not type(self) or other._reductions != self._reductions:
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        for name, red in self._reductions.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if red == "cat":
                setattr(self, name, list(mine) + list(theirs))
            elif mine.shape != theirs.shape:
                raise ValueError(
                    f"state {name!r} has shape {tuple(mine.shape)} here and {tuple(theirs.shape)} "
                    "in the other metric (different configuration?)"
                )
            elif red == "sum":
                setattr(self, name, mine + theirs)
            elif red == "max":
                setattr(self, name, torch.maximum(mine, theirs))
            else:
                setattr(self, name, torch.minimum(mine, theirs))
        return self

    def sync(self, group: Any = None) -> "Metric":
        """All-reduce the states across ``torch.distributed`` ranks, in place; returns self.

        A no-op when ``torch.distributed`` is unavailable or not initialised. Call once per
        accumulation (a second call before ``reset``/``update`` raises, to avoid double counting).
        """
        if not (dist.is_available() and dist.is_initialized()):
            return self
        if self._synced:
            raise RuntimeError("metric already synced; call reset() or update() before syncing again")
        for name, red in self._reductions.items():
            value = getattr(self, name)
            if red == "cat":
                local = torch.cat(value) if value else None
                gathered: List[Any] = [None] * dist.get_world_size(group)
                dist.all_gather_object(gathered, local, group=group)
                setattr(self, name, [t for t in gathered if t is not None])
            else:
                buf = value.clone()
                dist.all_reduce(buf, op=getattr(dist.ReduceOp, _DIST_OPS[red]), group=group)
                setattr(self, name, buf)
        self._synced = True
        return self

    # ----------------------------------------------------------------- helpers
    def _mark_updated(self) -> None:
        self._synced = False

    def cat_state(self, name: str, empty: torch.Tensor | None = None) -> torch.Tensor:
        """The concatenation of a ``cat`` state (``empty`` if nothing was added)."""
        value = getattr(self, name)
        if not value:
            return empty if empty is not None else torch.empty(0)
        return torch.cat(value)

    def clone(self) -> "Metric":
        """A deep copy (states included)."""
        return copy.deepcopy(self)


class MeanMetric(Metric):
    """Mean of per-sample scores, NaN scores skipped and counted.

    Scores are (N,) or (N, T) (e.g. one column per threshold); ``shape`` is ``()`` or ``(T,)``.
    States: ``total`` (sum of non-NaN scores, float64), ``count`` and ``nan_count`` (int64),
    all of shape ``shape``. ``compute()`` returns the mean (NaN where no score was finite).
    """

    def __init__(self, shape: tuple = ()) -> None:
        super().__init__()
        self.add_state("total", torch.zeros(shape, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros(shape, dtype=torch.int64), "sum")
        self.add_state("nan_count", torch.zeros(shape, dtype=torch.int64), "sum")

    def update_scores(self, scores: torch.Tensor) -> None:
        """Add per-sample scores (N,) or (N, T); NaN entries are skipped and counted."""
        scores = scores.detach().to(torch.float64).cpu().reshape((-1,) + tuple(self.total.shape))
        ok = ~torch.isnan(scores)
        self.total = self.total + torch.where(ok, scores, torch.zeros_like(scores)).sum(0)
        self.count = self.count + ok.sum(0)
        self.nan_count = self.nan_count + (~ok).sum(0)
        self._mark_updated()

    def update(self, scores: torch.Tensor) -> None:  # noqa: D102 - same as update_scores
        self.update_scores(scores)

    def compute(self) -> torch.Tensor:
        """Mean of the non-NaN scores seen so far (float64, shape ``shape``; NaN if none)."""
        return torch.where(
            self.count > 0, self.total / self.count.clamp(min=1), torch.full_like(self.total, float("nan"))
        )
