"""One metric-state type for the evaluator: update / compute / merge / reset / sync.

A metric declares its states with ``add_state(name, default, reduce)``:

* ``reduce="sum" | "max" | "min"``: a fixed-size tensor (e.g. ``(G,)`` per-group counts)
  merged element-wise; across ranks it is one ``all_reduce``.
* ``reduce="cat"``: a list of per-batch tensors (per-sample values that a metric needs to be
  exact, e.g. scores for AUROC); merged by concatenation in (self, other) / rank order; across
  ranks by ``all_gather`` of tensors (shapes and dtypes exchanged first; nothing is unpickled).

and its **settings** (``settings()``): every option that changes what the states mean or what
``compute()`` returns (pointing-game variant, thresholds, metric list, ``keep_rows``, ...).
``merge`` and ``sync`` refuse states built with different settings, with an error naming the
setting. States indexed by a vocabulary (``GroupMetrics``' groups) are aligned **by label** before
they are combined (``_aligned`` / ``_to_canonical`` / ``_from_canonical``), never by position.

Results do not depend on how data is split into batches, shards or ranks (up to float
summation order; sum states are float64 or int64). States are plain tensors, so metrics
pickle with the standard protocol.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Literal, Optional, Union

import torch

from fastxai.eval.errors import InputError
from fastxai.eval import settings as SET
from fastxai.eval import sync as SY

Reduce = Literal["sum", "max", "min", "cat"]
StateValue = Union[torch.Tensor, List[torch.Tensor]]


class Metric:
    """Base class: subclasses call ``add_state`` in ``__init__``, implement ``update``/``compute`` and,
    when they have options, ``settings()``."""

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

    def settings(self) -> Dict[str, Any]:
        """Every setting that changes what the states mean or what ``compute()`` returns.

        ``merge`` / ``sync`` refuse metrics whose settings differ (compared by value; callables by
        module and qualified name). Subclasses with options override this."""
        return {}

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
        """Fold ``other``'s states into this metric; returns self.

        Raises ``TypeError`` for another metric class and ``InputError`` naming the setting when
        the two were built with different settings. Vocabulary-indexed states are aligned by label.
        """
        if type(other) is not type(self) or other._reductions != self._reductions:
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        SET.check_same("merge", self.settings(), other.settings())
        theirs = self._aligned(other)
        for name, red in self._reductions.items():
            mine, value = getattr(self, name), theirs[name]
            if red == "cat":
                setattr(self, name, list(mine) + list(value))
            elif mine.shape != value.shape:
                raise ValueError(
                    f"state {name!r} has shape {tuple(mine.shape)} here and {tuple(value.shape)} "
                    "in the other metric (different configuration?)"
                )
            else:
                setattr(self, name, _fold(red, mine, value))
        return self

    def sync(self, group: Any = None) -> "Metric":
        """Combine the states across ``torch.distributed`` ranks, in place; returns self.

        Every rank first checks that all ranks hold the same metric class and settings (digests
        gathered as tensors; an ``InputError`` naming the differing settings is raised on every
        rank), then sum/max/min states are all-reduced and cat states all-gathered as tensors
        (shapes and dtypes exchanged first). No peer data is unpickled. Vocabulary-indexed states
        are put in a canonical (label-hash) order for the collectives and back afterwards, so ranks
        whose group orders differ combine by label.

        A no-op when ``torch.distributed`` is unavailable or not initialised. Call once per
        accumulation (a second call before ``reset``/``update`` raises, to avoid double counting).
        """
        if not SY.initialised():
            return self
        if self._synced:
            raise RuntimeError("metric already synced; call reset() or update() before syncing again")
        SY.check_settings(type(self).__qualname__, self.settings(), self._sync_labels(), group)
        canon = self._to_canonical()
        out: Dict[str, StateValue] = {}
        for name, red in self._reductions.items():
            if red == "cat":
                out[name] = SY.gather_cat(name, canon[name], group)
            else:
                out[name] = SY.all_reduce(canon[name], red, group)
        for name, value in self._from_canonical(out).items():
            setattr(self, name, value)
        self._synced = True
        return self

    # ----------------------------------------------------------------- alignment hooks
    def _aligned(self, other: "Metric") -> Dict[str, StateValue]:
        """``other``'s states arranged like this metric's (default: as they are)."""
        return {name: getattr(other, name) for name in self._reductions}

    def _sync_labels(self) -> Optional[List[Any]]:
        """The vocabulary whose label set must agree across ranks (None: no vocabulary)."""
        return None

    def _to_canonical(self) -> Dict[str, StateValue]:
        """States in the rank-independent order used by ``sync`` (default: as they are)."""
        return {name: getattr(self, name) for name in self._reductions}

    def _from_canonical(self, states: Dict[str, StateValue]) -> Dict[str, StateValue]:
        """Synced states back in this metric's own order (default: as they are)."""
        return states

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


def _fold(red: str, mine: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor:
    if red == "sum":
        return mine + theirs
    if red == "max":
        return torch.maximum(mine, theirs)
    return torch.minimum(mine, theirs)


class MeanMetric(Metric):
    """Mean of per-sample scores, NaN scores skipped and counted.

    Scores are (N,) or (N, T) (e.g. one column per threshold); ``shape`` is ``()`` or ``(T,)``.
    States: ``total`` (sum of non-NaN scores, float64), ``count`` and ``nan_count`` (int64),
    all of shape ``shape``. ``compute()`` returns the mean (NaN where no score was finite).
    Settings: ``shape``.
    """

    def __init__(self, shape: tuple = ()) -> None:
        super().__init__()
        self.add_state("total", torch.zeros(shape, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros(shape, dtype=torch.int64), "sum")
        self.add_state("nan_count", torch.zeros(shape, dtype=torch.int64), "sum")

    def settings(self) -> Dict[str, Any]:
        """``shape`` of the scores' trailing dims."""
        return {"shape": tuple(self.total.shape)}

    def update_scores(self, scores: torch.Tensor) -> None:
        """Add per-sample scores (N,) or (N, T); NaN entries are skipped and counted."""
        shape = tuple(self.total.shape)
        scores = scores.detach().to(torch.float64).cpu()
        if scores.dim() == 0 and not shape:
            scores = scores.reshape(1)
        if scores.dim() != 1 + len(shape) or tuple(scores.shape[1:]) != shape:
            raise InputError(f"scores must be (N,{' ' + str(shape[0]) if shape else ''}) per-sample values, "
                             f"got {tuple(scores.shape)}")
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
