"""Per-batch Parquet part files and their compaction (pyarrow).

A part is ``parts/<cell>/r<rank>-b<batch>.parquet``: written to ``.<name>.tmp-<pid>`` and renamed
with ``os.replace`` (atomic on POSIX), so a killed process leaves either a whole part or none;
temp files of dead writers are ignored and cleaned. Batch indices are global (batch ``b`` holds
the same units whatever the number of ranks), so a batch done by any rank is skipped on resume,
and compaction keeps one part per batch (the first by name) — no row is lost or duplicated.
A write that fails (``ENOSPC``) removes its temp file and raises ``DiskFullError``.
"""
from __future__ import annotations

import errno
import glob
import os
import re
from typing import Any, Dict, List, Optional, Set

from fastxai.bench.errors import DiskFullError

PART_RE = re.compile(r"^r(\d+)-b(\d+)\.parquet$")


def _write_atomic(table: Any, path: str) -> None:
    import pyarrow.parquet as pq

    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(errno.ENOSPC, f"no space left writing {path}") from exc
        raise


def write_part(cell_dir: str, rank: int, batch: int, columns: Dict[str, Any]) -> str:
    """Write one batch's rows (``{column: list/array}``) atomically; returns the path."""
    import pyarrow as pa

    os.makedirs(cell_dir, exist_ok=True)
    path = os.path.join(cell_dir, f"r{rank}-b{batch}.parquet")
    _write_atomic(pa.table(columns), path)
    return path


def done_batches(cell_dir: str) -> Set[int]:
    """Batch indices that have a complete part in ``cell_dir``."""
    if not os.path.isdir(cell_dir):
        return set()
    out = set()
    for name in os.listdir(cell_dir):
        m = PART_RE.match(name)
        if m:
            out.add(int(m.group(2)))
    return out


def part_files(cell_dir: str) -> Dict[int, str]:
    """Batch -> the part file kept for it (first by name when several ranks wrote it)."""
    kept: Dict[int, str] = {}
    if not os.path.isdir(cell_dir):
        return kept
    for name in sorted(os.listdir(cell_dir)):
        m = PART_RE.match(name)
        if m and int(m.group(2)) not in kept:
            kept[int(m.group(2))] = os.path.join(cell_dir, name)
    return kept


def read_parts(cell_dir: str, batches: Optional[List[int]] = None) -> Any:
    """The rows of the kept parts (in batch order) as one pyarrow Table (None if none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = part_files(cell_dir)
    keys = sorted(files) if batches is None else [b for b in sorted(batches) if b in files]
    tables = [t for t in (pq.read_table(files[b]) for b in keys) if t.num_rows or t.num_columns]
    nonempty = [t for t in tables if t.num_rows]
    if not tables:
        return None
    # a batch whose images were all unreadable has typeless (null) columns: promote them
    return pa.concat_tables(nonempty or tables[:1], promote_options="default")


def compact(cell_dir: str, out_path: str, empty_schema: Any = None) -> int:
    """Write the kept parts as one file (atomically); returns its row count."""
    import pyarrow as pa

    table = read_parts(cell_dir)
    if table is None:
        table = pa.table({}) if empty_schema is None else empty_schema.empty_table()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    _write_atomic(table, out_path)
    return table.num_rows


def remove_parts(cell_dir: str) -> None:
    """Delete a cell's parts (after compaction) and stale temp files."""
    for path in glob.glob(os.path.join(cell_dir, "*")) + glob.glob(os.path.join(cell_dir, ".*")):
        os.remove(path)
    if os.path.isdir(cell_dir):
        os.rmdir(cell_dir)


def read_table(path: str) -> Any:
    """A compacted results file as a pandas DataFrame."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()
