"""How much memory one model call may take, and how much a call really took.

The chunk sizer never plans a chunk above a *memory bound*: the caller's ``max_memory`` when
given, else a fraction (``FASTXAI_MEMORY_FRACTION``, default 0.25) of the memory available on
the device right now:

* CUDA: free device memory (``torch.cuda.mem_get_info``) plus what torch's caching allocator
  holds but does not use (``memory_reserved - memory_allocated``);
* CPU, Linux: ``MemAvailable`` from ``/proc/meminfo`` (what the kernel says can be allocated
  without swapping, page cache included);
* CPU elsewhere: ``os.sysconf("SC_AVPHYS_PAGES")`` where it exists, else half the physical
  memory (``SC_PHYS_PAGES``); where neither is known, :data:`FALLBACK_BYTES` (4 GiB) with a
  one-time warning.

:func:`memory_mark` reads (bytes in use, peak bytes) of this process (CPU: ``VmRSS`` /
``VmHWM`` from ``/proc/self/status``; CUDA: torch's allocated / max-allocated), so the sizer
can see what a chunk *really* needed when it raised the process's peak. Nothing here resets a
peak counter, so users' own peak measurements stay intact.
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Optional, Tuple

import torch

DEFAULT_FRACTION = 0.25
FALLBACK_BYTES = 4 << 30
MIN_BOUND = 64 << 20  # never plan below this (a nearly full machine still gets a useful chunk)
_READ_EVERY_S = 0.25  # /proc/meminfo is read at most this often per device
_last: dict = {}
_warned: set = set()


def memory_fraction() -> float:
    """The fraction of available memory one model call may plan for (``FASTXAI_MEMORY_FRACTION``)."""
    raw = os.environ.get("FASTXAI_MEMORY_FRACTION", "")
    if not raw:
        return DEFAULT_FRACTION
    try:
        frac = float(raw)
    except ValueError:
        frac = -1.0
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"FASTXAI_MEMORY_FRACTION must be a number in (0, 1], got {raw!r}")
    return frac


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available() -> Optional[int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    for name, share in (("SC_AVPHYS_PAGES", 1.0), ("SC_PHYS_PAGES", 0.5)):
        try:
            pages = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if pages > 0:
            return int(pages * page * share)
    return None


def available_bytes(device: Optional[torch.device] = None) -> Optional[int]:
    """Memory that one more allocation can use on ``device`` now, or None when unknown."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        spare = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(0, spare))
    if dev.type != "cpu":
        return None
    got = _meminfo_available()
    return got if got is not None else _sysconf_available()


def default_memory_bound(device: Optional[torch.device] = None) -> int:
    """Bytes one model call may plan for when the caller gave no ``max_memory``:
    ``memory_fraction() * available_bytes(device)`` (at least :data:`MIN_BOUND`)."""
    now = time.monotonic()
    hit = _last.get(device)
    if hit is not None and now - hit[0] < _READ_EVERY_S:
        avail = hit[1]
    else:
        avail = available_bytes(device)
        _last[device] = (now, avail)
    if avail is None:
        dev = torch.device("cpu") if device is None else torch.device(device)
        if dev.type not in _warned:
            _warned.add(dev.type)
            warnings.warn(
                f"fastxai cannot tell how much memory is available on {dev}; chunks are bounded "
                f"by {FALLBACK_BYTES >> 30} GiB (pass max_memory= to choose)", stacklevel=3,
            )
        return FALLBACK_BYTES
    return max(MIN_BOUND, int(avail * memory_fraction()))


def _status_marks() -> Optional[Tuple[int, int]]:
    rss = hwm = None
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
                if rss is not None and hwm is not None:
                    return rss, hwm
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_mark(device: Optional[torch.device] = None) -> Optional[Tuple[int, int]]:
    """(bytes in use, peak bytes so far) for this process on ``device``, or None when unknown."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.memory_allocated(dev)), int(torch.cuda.max_memory_allocated(dev))
    if dev.type == "cpu":
        return _status_marks()
    return None


def forget() -> None:
    """Drop the cached ``available_bytes`` readings (tests)."""
    _last.clear()
