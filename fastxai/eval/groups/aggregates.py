"""fairlearn ``MetricFrame`` aggregations on (..., G) tensors (vectorised over bootstrap replicates).

NaN groups are skipped (pandas semantics). ``difference``: between_groups = max - min,
to_overall = max_g |m_g - overall|. ``ratio``: between_groups = min / max, to_overall =
min_g r(m_g / overall) with r(x) = 1/x if x > 1 else x (0/0 -> NaN, x/0 -> inf -> 0).
"""
from __future__ import annotations

import torch

INF = float("inf")


def group_min(v: torch.Tensor) -> torch.Tensor:
    """NaN-skipping min over the last dim (NaN if every group is NaN)."""
    out = torch.where(torch.isnan(v), torch.full_like(v, INF), v).amin(-1)
    return torch.where(torch.isnan(v).all(-1), torch.full_like(out, float("nan")), out)


def group_max(v: torch.Tensor) -> torch.Tensor:
    """NaN-skipping max over the last dim (NaN if every group is NaN)."""
    return -group_min(-v)


def difference(v: torch.Tensor, overall: torch.Tensor, method: str = "between_groups") -> torch.Tensor:
    """fairlearn ``MetricFrame.difference``. v (..., G), overall (...)."""
    if method == "between_groups":
        return group_max(v) - group_min(v)
    if method == "to_overall":
        return group_max((v - overall[..., None]).abs())
    raise ValueError(f"method must be between_groups|to_overall, got {method!r}")


def ratio(v: torch.Tensor, overall: torch.Tensor, method: str = "between_groups") -> torch.Tensor:
    """fairlearn ``MetricFrame.ratio``. v (..., G), overall (...)."""
    if method == "between_groups":
        return group_min(v) / group_max(v)
    if method == "to_overall":
        r = v / overall[..., None]
        r = torch.where(r > 1, 1 / r, r)
        return group_min(r)
    raise ValueError(f"method must be between_groups|to_overall, got {method!r}")
