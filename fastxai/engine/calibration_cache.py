"""Chunk-size choices that outlive the process.

The chunk sizer's settled choice (rows per model call, the seconds per row it was measured at,
and the bytes per row it was seen to need) is written to one small JSON file per key, so a new
process starts settled instead of searching again.

* **Where**: ``$FASTXAI_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/fastxai/calibration``, else
  ``~/.cache/fastxai/calibration``.
* **Opt out**: ``FASTXAI_CALIBRATION_CACHE=0`` (or ``off`` / ``false`` / ``no``), or
  :func:`set_enabled` ``(False)`` in code; the in-process cache still works.
* **Key and invalidation**: the file name is the SHA-256 of a descriptor holding the cache
  format (:data:`FORMAT`), the fastxai and torch versions, the machine (architecture, CPU model,
  core count; for CUDA the GPU's name, memory and the CUDA version), the device, torch's thread
  count, the mode (forward / backward ...), the per-row input shapes and dtypes, and a
  *model signature*: a hash of the module types, their ``extra_repr`` (kernel sizes, strides ...),
  parameter and buffer names, shapes and dtypes and the training flag — never ``id(model)``.
  Any change gives another file name, so a stale choice is never read; the descriptor is also
  stored in the file and compared on load.
* **Safety**: files are written to a temporary name in the same folder and moved into place
  with ``os.replace`` (atomic), so concurrent processes never read half a file (the last writer
  wins); an unreadable or malformed file is ignored with a warning; the folder keeps at most
  :data:`MAX_FILES` files (the oldest are removed).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

FORMAT = 1  # bump when the chunk search changes what a stored choice means
MAX_FILES = 1000
_enabled: Optional[bool] = None  # None: follow FASTXAI_CALIBRATION_CACHE
_warned: set = set()


@dataclass
class Choice:
    """A settled chunk size: ``rows`` per call, ``per_row_s`` the seconds per row it was
    measured at (None if unknown), ``row_bytes`` the bytes per row a chunk was seen to need."""

    rows: int
    per_row_s: Optional[float] = None
    row_bytes: Optional[int] = None


def set_enabled(flag: Optional[bool]) -> None:
    """Turn the on-disk cache on / off for this process (None: follow the environment)."""
    global _enabled
    _enabled = flag


def enabled() -> bool:
    """Whether choices are read from and written to disk."""
    if _enabled is not None:
        return _enabled
    raw = os.environ.get("FASTXAI_CALIBRATION_CACHE", "1").strip().lower()
    return raw not in ("0", "off", "false", "no")


def cache_dir() -> Path:
    """The folder holding the cache files (see the module docstring)."""
    env = os.environ.get("FASTXAI_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "fastxai" / "calibration"


def clear() -> int:
    """Remove every cache file; returns how many were removed."""
    removed = 0
    folder = cache_dir()
    for p in folder.glob("*.json") if folder.is_dir() else []:
        try:
            p.unlink()
            removed += 1
        except OSError:
            pass
    return removed


@functools.lru_cache(maxsize=None)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.lru_cache(maxsize=None)
def machine_fingerprint(device: str) -> Dict[str, Any]:
    """What identifies the hardware a timing was taken on (``device`` as ``str(torch.device)``)."""
    fp: Dict[str, Any] = {"arch": platform.machine(), "cpu": _cpu_model(), "cores": os.cpu_count()}
    dev = torch.device(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        fp.update(gpu=props.name, gpu_mem=int(props.total_memory), cuda=torch.version.cuda)
    return fp


def _module_signature(m: nn.Module, h: "hashlib._Hash") -> None:
    h.update(f"train={m.training};".encode())
    for name, sub in m.named_modules():
        t = type(sub)
        h.update(f"{name}:{t.__module__}.{t.__qualname__}({sub.extra_repr()});".encode())
    for kind, items in (("p", m.named_parameters()), ("b", m.named_buffers())):
        for name, t in items:
            h.update(f"{kind}:{name}:{tuple(t.shape)}:{t.dtype};".encode())


def model_signature(target: Any, method: Optional[str] = None) -> str:
    """A hash of what the model *is*, stable across processes (never ``id(model)``).

    ``target`` is the model (an ``nn.Module``: module types, ``extra_repr``, parameter and buffer
    shapes / dtypes, training flag), another object whose method is called (its type and the
    modules among its attributes) or a plain function / ``functools.partial`` (its qualified
    name, code and the modules it closes over or binds); ``method``: the bound method's name."""
    h = hashlib.sha256()
    h.update(f"method={method};".encode())
    if isinstance(target, nn.Module):
        _module_signature(target, h)
        return h.hexdigest()
    fn = target.func if isinstance(target, functools.partial) else target
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    h.update(f"{getattr(fn, '__module__', None) or type(fn).__module__}.{name};".encode())
    if code is not None:
        h.update(code.co_code)
        captured = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _cell_ok(c)]
    else:  # a callable object: the modules it holds
        captured = list(getattr(fn, "__dict__", {}).values())
    if isinstance(target, functools.partial):
        captured += list(target.args) + list(target.keywords.values())
    for obj in captured:
        if isinstance(obj, nn.Module):
            _module_signature(obj, h)
    return h.hexdigest()


def _cell_ok(cell: Any) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:  # an empty cell
        return False


def _path(descriptor: Dict[str, Any]) -> Path:
    blob = json.dumps(descriptor, sort_keys=True, default=str).encode()
    return cache_dir() / (hashlib.sha256(blob).hexdigest()[:40] + ".json")


def _warn_once(tag: str, msg: str) -> None:
    if tag not in _warned:
        _warned.add(tag)
        warnings.warn(msg, stacklevel=4)


def load(descriptor: Dict[str, Any]) -> Optional[Choice]:
    """The stored choice for ``descriptor``, or None (missing, disabled or unreadable)."""
    if not enabled():
        return None
    path = _path(descriptor)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        _warn_once(str(path), f"ignoring the unreadable fastxai calibration cache file {path}: {exc}")
        return None
    try:
        if data.get("format") != FORMAT or data.get("key") != json.loads(json.dumps(descriptor, default=str)):
            return None  # another format, or a (vanishingly unlikely) hash collision
        rows = _whole(data["rows"], "rows")
        per_row = data.get("per_row_s")
        row_bytes = data.get("row_bytes")
        if per_row is not None:
            per_row = float(per_row)
            if not math.isfinite(per_row) or per_row <= 0:  # NaN would never trigger a re-validation
                raise ValueError(f"per_row_s = {per_row}")
        return Choice(rows, per_row, None if row_bytes is None else _whole(row_bytes, "row_bytes"))
    except (AttributeError, KeyError, OverflowError, TypeError, ValueError) as exc:
        _warn_once(str(path), f"ignoring the malformed fastxai calibration cache file {path}: {exc!r}")
        return None


def _whole(value: Any, name: str) -> int:
    """A positive whole number from a cache file (``True``, ``2.5`` or ``0`` are malformed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(f"{name} = {value!r}")
    return int(value)


def store(descriptor: Dict[str, Any], choice: Choice) -> None:
    """Write ``choice`` for ``descriptor`` atomically (a no-op when disabled; warns once when
    the folder cannot be written)."""
    if not enabled():
        return
    path = _path(descriptor)
    data = {"format": FORMAT, "key": descriptor, "rows": int(choice.rows),
            "per_row_s": choice.per_row_s, "row_bytes": choice.row_bytes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # not *.json: another process's prune / clear never removes a file being written
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, sort_keys=True, default=str)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _prune(path.parent)
    except OSError as exc:
        _warn_once("write:" + str(path.parent), (
            f"cannot write the fastxai calibration cache in {path.parent}: {exc}; set "
            "FASTXAI_CACHE_DIR to a writable folder or FASTXAI_CALIBRATION_CACHE=0 to turn it off"))


def _prune(folder: Path) -> None:
    files = list(folder.glob("*.json"))
    if len(files) <= MAX_FILES:
        return
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0
    for p in sorted(files, key=mtime)[: len(files) - (MAX_FILES * 4) // 5]:
        try:
            p.unlink()
        except OSError:
            pass


class CacheKey(tuple):
    """:func:`model_key`'s tuple (hashed and compared as a plain tuple) plus a weak reference
    to the model, from which the process-independent on-disk key is built when needed."""

    _ref: Any
    _method: Optional[str]

    def __new__(cls, items: Tuple[Any, ...], target: Any = None, method: Optional[str] = None) -> "CacheKey":
        self = super().__new__(cls, items)
        try:
            self._ref = weakref.ref(target) if target is not None else None
        except TypeError:  # an object that cannot be weakly referenced
            self._ref = None
        self._method = method
        return self

    def owner(self) -> Any:
        """The model (or callable) this key was made for, if still alive."""
        return self._ref() if self._ref is not None else None

    def descriptor(self) -> Optional[Dict[str, Any]]:
        """The on-disk cache's key (see :mod:`fastxai.engine.calibration_cache`), or None."""
        target = self.owner()
        if target is None or len(self) != 6:
            return None
        from fastxai._version import __version__

        _, shapes, dtypes, device, threads, mode = self
        return {
            "format": FORMAT, "fastxai": __version__, "torch": torch.__version__,
            "machine": machine_fingerprint(device), "device": device, "threads": threads,
            "mode": mode, "shapes": shapes, "dtypes": dtypes,
            "model": model_signature(target, self._method),
        }
