"""Engine controls shared by every method: how many rows go into one forward, progress."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fastxai._captum.errors import InputError


@dataclass(frozen=True)
class EngineOptions:
    """Engine-level controls of one call (validated on construction).

    ``perturbations_per_eval``: Captum's cap on perturbations per forward (None = auto).
    ``max_batch``: cap on rows per forward. ``max_memory``: cap on bytes per forward.
    ``show_progress``: progress bar labelled ``desc``.
    """

    perturbations_per_eval: Optional[int] = None
    max_batch: Optional[int] = None
    max_memory: Optional[int] = None
    show_progress: bool = False
    desc: str = "fastxai"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first bad field."""
        for name in ("perturbations_per_eval", "max_batch", "max_memory"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                hint = " or None (auto)" if name == "perturbations_per_eval" else " or None"
                raise InputError(f"{name} must be an integer >= 1{hint}, got {v!r}")
