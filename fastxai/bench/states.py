"""The evaluate stage's evaluator state: per-unit scores as a ``fastxai.eval.Metric``.

States are ``cat`` (unit ordinals and their (n, M) scores), so ``sync()`` merges ranks through
``torch.distributed`` (tensor all-gathers; ranks whose metric lists differ are refused, naming the
setting) and ``compute()`` sorts by unit before reducing:
the result is bitwise the same whatever the number of ranks or batches (sum states would add
in a rank-dependent order).
"""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import Tensor

from fastxai.eval import Metric


class ScoreState(Metric):
    """Per-unit scores of ``metrics`` (M names). ``update(units (N,), values (N, M))``."""

    def __init__(self, metrics: List[str]) -> None:
        super().__init__()
        self.metrics = list(metrics)
        self.add_state("units", [], reduce="cat")
        self.add_state("values", [], reduce="cat")

    def settings(self) -> Dict[str, object]:
        """The metric columns (``merge`` / ``sync`` refuse states with other columns)."""
        return {"metrics": list(self.metrics)}

    def update(self, units: Tensor, values: Tensor) -> None:  # type: ignore[override]
        """Add N units' scores ((N, M) float64, NaN = not measured)."""
        if values.shape != (units.shape[0], len(self.metrics)):
            raise ValueError(f"values must be (N, {len(self.metrics)}), got {tuple(values.shape)}")
        self.units.append(units.to(torch.int64).cpu())
        self.values.append(values.to(torch.float64).cpu())
        self._mark_updated()

    def rows(self) -> tuple:
        """(units (n,), values (n, M)) sorted by unit; duplicates of a unit raise."""
        u = self.cat_state("units", torch.empty(0, dtype=torch.int64))
        v = self.cat_state("values", torch.empty(0, len(self.metrics), dtype=torch.float64))
        order = torch.argsort(u, stable=True)
        u, v = u[order], v[order]
        if u.numel() > 1 and bool((u[1:] == u[:-1]).any()):
            raise RuntimeError("a unit was scored twice (duplicated rows)")
        return u, v

    def compute(self) -> Dict[str, Dict[str, float]]:
        """Per metric: NaN-skipping mean and count, ``{"mean": ..., "n": ...}``."""
        _, v = self.rows()
        out: Dict[str, Dict[str, float]] = {}
        for j, name in enumerate(self.metrics):
            col = v[:, j]
            ok = ~torch.isnan(col)
            n = int(ok.sum())
            out[name] = {"mean": float(col[ok].sum() / n) if n else float("nan"), "n": n}
        return out
