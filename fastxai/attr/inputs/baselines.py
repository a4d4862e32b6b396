"""Captum's ``ProductBaselines``: a callable drawing one baseline per feature from the
Cartesian product of the features' candidate baselines."""
from __future__ import annotations

import random
from typing import Any, Dict, List, Tuple, Union

BaselineValues = Union[List[List[Any]], Dict[Union[str, Tuple[str, ...]], List[Any]]]


class ProductBaselines:
    """Draw one baseline per feature, uniformly from its candidates (Python's ``random``, so a
    ``random.seed`` gives Captum's draws).

    ``baseline_values``: a list of candidate lists (one per feature; a draw is a list), or a
    dict ``{name: candidates}`` (a draw is a dict); a tuple of names as key groups features
    whose baselines go together, its candidates being tuples of values."""

    def __init__(self, baseline_values: BaselineValues) -> None:
        if isinstance(baseline_values, dict):
            self.dict_keys: List[Any] = list(baseline_values.keys())
            self.baseline_values: List[List[Any]] = [baseline_values[k] for k in self.dict_keys]
        else:
            self.dict_keys = []
            self.baseline_values = baseline_values

    def sample(self) -> Union[List[Any], Dict[str, Any]]:
        """One draw: a list (list input) or a dict name -> value (dict input)."""
        draws = [random.choice(candidates) for candidates in self.baseline_values]
        if not self.dict_keys:
            return draws
        out: Dict[str, Any] = {}
        for key, value in zip(self.dict_keys, draws):
            keys, values = (key, value) if isinstance(key, tuple) else ((key,), (value,))
            out.update(zip(keys, values))
        return out

    def __call__(self) -> Union[List[Any], Dict[str, Any]]:
        """Same as :meth:`sample`."""
        return self.sample()
