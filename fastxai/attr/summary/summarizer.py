"""Captum's ``Summarizer`` / ``SummarizerSingleTensor``: streaming statistics of attributions.

``Summarizer(stats)`` keeps one :class:`SummarizerSingleTensor` per input of a tuple; each holds
the requested stats plus their dependencies (StdDev(k) -> Var(k) -> MSE -> Mean -> Count),
updated in dependency order. ``summary`` maps each requested stat's ``name`` to its value (a
list of such dicts for tuple input; None before the first update).

Additions (Captum has none of these): ``update_batch(xs)`` adds the N rows of each (N, *S) tensor
as N observations in one vectorised step; ``merge(other)`` folds a summarizer built on another
shard into this one (the stats are mergeable metric states, see :mod:`.stat`); ``sync()``
combines the summaries of all ``torch.distributed`` ranks; ``reset()``.
Summarizers pickle, so shards can be gathered with ``torch.distributed.all_gather_object`` and
merged.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple, Type, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.attr.summary.stat import MSE, Count, Mean, Stat, StatValue, StdDev, Var

SummaryDict = Dict[str, Optional[StatValue]]
_DEP_ORDER: Tuple[Type[Stat], ...] = (StdDev, Var, MSE, Mean, Count)


def _reorder_stats(stats: List[Stat]) -> Tuple[List[Stat], List[int]]:
    """(every stat needed, in update order; indices of the requested ones in that list).

    Duplicates (same class and params) collapse to the first given. Dependencies are added as
    Captum adds them: a Var(k) for each StdDev(k), then for the first of Var / MSE / Mean / Count
    present, default instances of it and everything after it in that chain."""
    requested = list(dict.fromkeys(stats))
    needed = dict.fromkeys(requested)
    for s in requested:
        if type(s) is StdDev:
            needed.setdefault(Var(order=s.order))
    classes = {type(s) for s in needed}
    for i, dep in enumerate(_DEP_ORDER[1:], start=1):
        if dep in classes:
            for mod in _DEP_ORDER[i:]:
                needed.setdefault(mod())
            break
    rank = {cls: i for i, cls in enumerate(_DEP_ORDER)}
    ordered = sorted(needed, key=lambda s: rank.get(type(s), -1), reverse=True)
    wanted = set(requested)
    return ordered, [i for i, s in enumerate(ordered) if s in wanted]


def _as_tuple(x: Union[float, Tensor, Tuple[Union[float, Tensor], ...]]) -> Tuple[Tensor, ...]:
    items = x if isinstance(x, tuple) else (x,)
    return tuple(v if isinstance(v, Tensor) else torch.tensor(v, dtype=torch.float) for v in items)


class SummarizerSingleTensor:
    """The statistics of one tensor stream. Prefer :class:`Summarizer`.

    ``stats`` must be in update order (see ``_reorder_stats``); ``summary_stats_indices`` picks
    the ones ``summary`` shows."""

    def __init__(self, stats: List[Stat], summary_stats_indices: List[int]) -> None:
        self._stats = stats
        self._stat_to_stat: Dict[Stat, Stat] = {stat: stat for stat in stats}
        self._summary_stats = [stats[i] for i in summary_stats_indices]
        for stat in stats:
            stat._other_stats = self
            stat.init()

    def update(self, x: Tensor) -> None:
        """Add one observation ``x`` (*S)."""
        for stat in self._stats:
            stat.update(x)

    def update_batch(self, xs: Tensor) -> None:
        """Add the N rows of ``xs`` (N, *S) as N observations."""
        for stat in self._stats:
            stat.update_batch(xs)

    def get(self, stat: Stat) -> Optional[Stat]:
        """This summarizer's stat equal to ``stat`` (same class and params), or None."""
        return self._stat_to_stat.get(stat)

    @property
    def summary(self) -> SummaryDict:
        """{stat name: value} for the requested stats."""
        return {stat.name: stat.get() for stat in self._summary_stats}

    def merge(self, other: "SummarizerSingleTensor") -> "SummarizerSingleTensor":
        """Fold ``other``'s statistics (same stat set) into these; returns self."""
        if set(self._stat_to_stat) != set(other._stat_to_stat):
            raise InputError("cannot merge summarizers tracking different statistics")
        for stat in self._stats:
            stat.merge(other._stat_to_stat[stat])
        return self


class Summarizer:
    """Streaming statistics of a tensor (or of each tensor of a tuple).

    ``update(x)`` adds one observation; ``x`` is a tensor (*S), a float, or a tuple of them
    (one statistic set per position; keep the same form on every call)."""

    def __init__(self, stats: List[Stat]) -> None:
        self._summarizers: List[SummarizerSingleTensor] = []
        self._is_inputs_tuple: Optional[bool] = None
        self._stats, self._summary_stats_indicies = _reorder_stats(stats)

    def _copy_stats(self) -> List[Stat]:
        return copy.deepcopy(self._stats)

    def _check_form(self, x: object) -> None:
        is_tuple = isinstance(x, tuple)
        if self._is_inputs_tuple is None:
            self._is_inputs_tuple = is_tuple
        elif self._is_inputs_tuple != is_tuple:
            raise InputError("x: give a tuple on every update or on none (the summarizer saw the other form before)")

    def _single(self, i: int) -> SummarizerSingleTensor:
        while i >= len(self._summarizers):
            self._summarizers.append(SummarizerSingleTensor(self._copy_stats(), self._summary_stats_indicies))
        return self._summarizers[i]

    def update(self, x: Union[float, Tensor, Tuple[Union[float, Tensor], ...]]) -> None:
        """Add one observation: ``x`` (*S) or a tuple of tensors (*S_i) / floats."""
        self._check_form(x)
        for i, inp in enumerate(_as_tuple(x)):
            self._single(i).update(inp)

    def update_batch(self, xs: Union[Tensor, Tuple[Tensor, ...]]) -> None:
        """Add N observations at once: ``xs`` (N, *S) or a tuple of (N, *S_i) tensors."""
        self._check_form(xs)
        items = _as_tuple(xs)
        if any(t.dim() == 0 or t.shape[0] != items[0].shape[0] for t in items):
            raise InputError(f"xs: every tensor needs the same first (batch) dimension N, got "
                             f"{[tuple(t.shape) for t in items]}")
        for i, inp in enumerate(items):
            self._single(i).update_batch(inp)

    @property
    def summary(self) -> Optional[Union[SummaryDict, List[SummaryDict]]]:
        """{stat name: value} (a list of them for tuple input; None before the first update)."""
        if not self._summarizers:
            return None
        out = [s.summary for s in self._summarizers]
        return out if self._is_inputs_tuple else out[0]

    def merge(self, other: "Summarizer") -> "Summarizer":
        """Fold a summarizer of the same statistics (built on another shard) into this one."""
        if set(self._stats) != set(other._stats):
            raise InputError("cannot merge summarizers tracking different statistics")
        if not other._summarizers:
            return self
        if self._is_inputs_tuple is not None and self._is_inputs_tuple != other._is_inputs_tuple:
            raise InputError("cannot merge a summarizer of tuples with one of single tensors")
        self._is_inputs_tuple = other._is_inputs_tuple
        for i, theirs in enumerate(other._summarizers):
            if i < len(self._summarizers):
                self._summarizers[i].merge(theirs)
            else:
                self._summarizers.append(copy.deepcopy(theirs))
        return self

    def sync(self, group: Any = None) -> "Summarizer":
        """Combine the summaries of every ``torch.distributed`` rank, in place (a no-op without
        an initialised process group). Ranks agree first on the input form and count (a rank
        that saw nothing joins with empty stats; a rank with tuples and one with single tensors
        raise ``InputError`` on every rank), then every stat syncs as an evaluator metric state."""
        from fastxai.eval import sync as SY

        if not SY.initialised():
            return self
        form = {None: 0, False: 1, True: 2}[self._is_inputs_tuple]
        high = SY.all_reduce(torch.tensor([len(self._summarizers), form]), "max", group)
        low = SY.all_reduce(torch.tensor([form or 3]), "min", group)
        if int(high[1]) == 2 and int(low[0]) == 1:
            raise InputError("sync: some ranks summarised tuples and others single tensors")
        if int(high[1]):
            self._is_inputs_tuple = int(high[1]) == 2
        if int(high[0]):
            self._single(int(high[0]) - 1)
        for single in self._summarizers:
            for stat in single._stats:
                stat.sync(group)
        return self

    def reset(self) -> "Summarizer":
        """Forget every observation."""
        self._summarizers = []
        self._is_inputs_tuple = None
        return self

