"""The batched engine shared by every method (see docs/ARCHITECTURE.md).

Public controls (the rest of the package is for method authors):

* :func:`allow_non_finite` -- let NaN / Inf model outputs through instead of raising;
* :func:`clear_cache` / :func:`unfinished_searches` -- forget the calibrated chunk sizes /
  count chunk-size searches still in progress (benchmarks warm up until it is 0).
"""
from fastxai.engine.batching import clear_cache, unfinished_searches
from fastxai.engine.checks import allow_non_finite

__all__ = ["allow_non_finite", "clear_cache", "unfinished_searches"]
