"""A progress bar for engine loops: tqdm when installed, else a plain counter on stderr."""
from __future__ import annotations

import sys
from typing import Any, Optional


class Progress:
    """``Progress(total, desc, enabled)``; ``update(n)`` then ``close()``. Disabled = no-op."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Optional[Any] = None
        self._done = 0
        self.total = total
        self.desc = desc
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc)
        except ImportError:
            self._bar = None

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            print(f"\r{self.desc}: {self._done}/{self.total}", end="", file=sys.stderr)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            print(file=sys.stderr)
