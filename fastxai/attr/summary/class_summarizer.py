"""Captum's ``ClassSummarizer``: summaries per class label plus one over every example."""
from __future__ import annotations

import copy
from typing import Any, Dict, Hashable, List, Optional, Tuple, Union

from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.attr.summary.stat import Stat
from fastxai.attr.summary.summarizer import Summarizer, SummaryDict


def _label_list(labels: Any, n: int) -> List[Hashable]:
    """One hashable label per row: a list or tensor gives one per row (tensor values as Python
    scalars), anything else labels every row."""
    if isinstance(labels, Tensor):
        labels = labels.reshape(-1).tolist()
    if not isinstance(labels, list):
        return [labels] * n
    if len(labels) == 1:
        return labels * n
    if len(labels) != n:
        raise InputError(f"labels: got {len(labels)} labels for a batch of {n}; give 1 label or one per "
                         "example (the first dimension of each input)")
    return labels


class ClassSummarizer(Summarizer):
    """Statistics per class and overall.

    ``update(x, labels)``: ``x`` (N, *S) or a tuple of (N, *S_i) tensors; row ``i`` is one
    observation of class ``labels[i]`` (``labels`` a list or tensor of N labels, or one label for
    every row). Without labels the whole ``x`` is ONE observation of the overall summary
    (Captum's behaviour). ``summary`` is the overall summary, ``class_summaries`` maps each
    label to its summary. Rows of one label are added in one vectorised ``update_batch``.

    Differences from Captum 0.9: tensor labels are keyed by their Python values (Captum keys by
    the 0-d tensor objects, so every row of a tensor of labels became its own class); a wrong
    number of labels raises ``InputError`` (an ``AssertionError``) naming ``labels``.
    """

    def __init__(self, stats: List[Stat]) -> None:
        super().__init__(stats)
        self._class_stats = list(stats)
        self.summaries: Dict[Any, Summarizer] = {}

    def update(self, x: Union[Tensor, Tuple[Tensor, ...]], labels: Any = None) -> None:  # type: ignore[override]
        """Add the rows of ``x`` (N, *S) under ``labels`` (N labels or one); see the class doc."""
        if labels is None:
            super().update(x)
            return
        items = x if isinstance(x, tuple) else (x,)
        n = items[0].shape[0]
        if any(t.dim() == 0 or t.shape[0] != n for t in items):
            raise InputError(f"x: every input needs the same first (batch) dimension N when labels are given, "
                             f"got {[tuple(t.shape) for t in items]}")
        keys = _label_list(labels, n)
        rows: Dict[Any, List[int]] = {}
        for i, key in enumerate(keys):
            rows.setdefault(key, []).append(i)
        for key, idx in rows.items():
            summ = self.summaries.get(key)
            if summ is None:
                summ = self.summaries[key] = Summarizer(self._class_stats)
            sel = idx if len(idx) < n else slice(None)
            summ.update_batch(tuple(t[sel] for t in items))
        super().update_batch(tuple(items))

    @property
    def class_summaries(self) -> Dict[Any, Optional[Union[SummaryDict, List[SummaryDict]]]]:
        """{label: summary of that label's rows}."""
        return {key: value.summary for key, value in self.summaries.items()}

    def merge(self, other: "ClassSummarizer") -> "ClassSummarizer":  # type: ignore[override]
        """Fold another shard's class summaries (matched by label) and overall summary into these."""
        super().merge(other)
        for key, theirs in other.summaries.items():
            if key in self.summaries:
                self.summaries[key].merge(theirs)
            else:
                self.summaries[key] = copy.deepcopy(theirs)
        return self

    def sync(self, group: Any = None) -> "ClassSummarizer":
        """Not available: class labels are arbitrary Python objects and ranks would have to
        exchange them pickled. Gather the per-rank summarizers yourself and ``merge`` them."""
        raise NotImplementedError("ClassSummarizer.sync: gather the ranks' summarizers and merge() them")

    def reset(self) -> "ClassSummarizer":
        """Forget every observation and class."""
        super().reset()
        self.summaries = {}
        return self
