"""Errors of ``fastxai.bench``: bad configs, bad files, a full disk."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config that cannot run: names the file, the key and (where possible) a suggestion."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file, self.key, self.message = file, key, message
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + message)


class BadFileError(RuntimeError):
    """An image or mask that is missing, corrupt or unreadable (``run.on_bad_file = "fail"``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


class DiskFullError(OSError):
    """No space left while writing results: the run stops; finished batches are kept."""
