"""Streaming statistics of attributions over a dataset (Captum's summarisers), as mergeable
metric states: ``Summarizer``, ``SummarizerSingleTensor``, ``ClassSummarizer`` and the stats
``Mean``, ``StdDev``, ``Var``, ``MSE``, ``Min``, ``Max``, ``Sum``, ``Count`` (``CommonStats()``
lists the usual five; ``StatValue`` is the type a stat returns)."""
from fastxai.attr.summary.class_summarizer import ClassSummarizer
from fastxai.attr.summary.stat import (
    MSE, CommonStats, Count, GeneralAccumFn, Max, Mean, Min, Stat, StatValue, StdDev, Sum, Var,
)
from fastxai.attr.summary.summarizer import Summarizer, SummarizerSingleTensor

__all__ = [
    "Summarizer", "SummarizerSingleTensor", "ClassSummarizer", "CommonStats", "Stat", "GeneralAccumFn",
    "Mean", "StdDev", "Var", "MSE", "Min", "Max", "Sum", "Count", "StatValue",
]
