"""Saved maps (``run.save_maps``) as Parquet, written and compacted like the score parts.

While an explain cell runs: one part per (cell, rank, batch), ``maps/<cell>/r<rank>-b<batch>.parquet``
(temp name + atomic rename through ``fastxai.bench.parts``; ``ENOSPC`` -> ``DiskFullError``), in
float32: a resumed batch is scored on exactly the maps an uninterrupted run would have scored.
When the cell is done: compacted (streamed part by part) into ``results/<cell>.maps.parquet`` in
``run.maps_dtype`` and the parts removed. Lossy (float16) compacted maps are for reading only;
a later evaluate cell recomputes the maps instead of scoring them.

Columns: ``unit`` (int64), ``sample_id`` (string), ``height``, ``width`` (int32), ``dtype``
(``float16`` / ``float32``), ``map`` (binary: the (H, W) map's bytes in ``dtype``, C order), and the
batch's method-call ``seconds``, ``rows``, ``grad_rows`` (the same on every row of a part), so a
batch whose maps were written is never explained again, even after a kill before its explain part.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from fastxai.bench import parts


def maps_dir(run_dir: str, key: str) -> str:
    """The folder of an explain cell's map parts."""
    return os.path.join(run_dir, "maps", key)


def compacted_path(run_dir: str, key: str) -> str:
    """The compacted maps file of a done explain cell."""
    return os.path.join(run_dir, "results", f"{key}.maps.parquet")


def _columns(units: Any, sample_ids: Sequence[str], arr: np.ndarray, seconds: Any, rows: Any,
             grad_rows: Any) -> Dict[str, Any]:
    n, h, w = arr.shape
    dtype = str(arr.dtype)
    return {"unit": np.asarray(units, dtype=np.int64), "sample_id": [str(s) for s in sample_ids],
            "height": np.full(n, h, np.int32), "width": np.full(n, w, np.int32), "dtype": [dtype] * n,
            "map": [arr[i].tobytes() for i in range(n)], "seconds": np.array(np.broadcast_to(np.asarray(seconds, float), n)),
            "rows": np.array(np.broadcast_to(np.asarray(rows, np.int64), n)),
            "grad_rows": np.array(np.broadcast_to(np.asarray(grad_rows, np.int64), n))}


def write_batch(run_dir: str, key: str, rank: int, batch: int, units: torch.Tensor, sample_ids: Sequence[str],
                maps: torch.Tensor, seconds: float, rows: int, grad_rows: int) -> str:
    """Write one batch's (N, H, W) maps of units (N,) as a float32 part; returns its path."""
    arr = np.ascontiguousarray(maps.detach().cpu().numpy().astype(np.float32))
    return parts.write_part(maps_dir(run_dir, key), rank, batch,
                            _columns(units.to(torch.int64).numpy(), sample_ids, arr, seconds, rows, grad_rows))


def decode(table: Any) -> Tuple[np.ndarray, List[str], np.ndarray]:
    """A maps table (pyarrow) -> (units (N,), sample ids, maps (N, H, W) float32)."""
    d = table.to_pydict()
    maps = [np.frombuffer(b, dtype=dt).reshape(h, w) for b, dt, h, w in zip(d["map"], d["dtype"], d["height"],
                                                                            d["width"])]
    stacked = np.stack(maps).astype(np.float32) if maps else np.zeros((0, 0, 0), np.float32)
    return np.asarray(d["unit"], dtype=np.int64), list(d["sample_id"]), stacked


def _exact(path: str) -> bool:
    """A compacted maps file that exists, has rows and holds float32 maps."""
    import pyarrow.parquet as pq

    if not os.path.exists(path) or "dtype" not in pq.read_schema(path).names:
        return False
    first = pq.read_table(path, columns=["dtype"]).slice(0, 1).to_pydict()["dtype"]
    return first == ["float32"]


class SavedMaps:
    """The saved maps of one explain cell, looked up by batch: its part, else the compacted file."""

    def __init__(self, run_dir: str, key: str) -> None:
        self.files = parts.part_files(maps_dir(run_dir, key))
        path = compacted_path(run_dir, key)
        self.compacted = path if _exact(path) else ""  # lossy compacted maps are never scored
        self._by_unit: Optional[Dict[int, np.ndarray]] = None

    def get(self, batch: int, units: torch.Tensor) -> Optional[Dict[str, Any]]:
        """``{"maps" (N, H, W), "seconds", "rows", "grad_rows", "loaded": True}`` for the batch's
        units (N,) in their order, or None when they were not all saved."""
        import pyarrow.parquet as pq

        want = [int(u) for u in units]
        if batch in self.files:
            table = pq.read_table(self.files[batch])
            got, _, maps = decode(table)
            if got.tolist() == want:
                timing = table.slice(0, 1).to_pydict()
                return {"maps": torch.from_numpy(maps), "seconds": float(timing["seconds"][0]),
                        "rows": int(timing["rows"][0]), "grad_rows": int(timing["grad_rows"][0]), "loaded": True}
        if self.compacted:
            if self._by_unit is None:
                got, _, maps = decode(pq.read_table(self.compacted))
                self._by_unit = dict(zip(got.tolist(), maps))
            if want and all(u in self._by_unit for u in want):
                return {"maps": torch.from_numpy(np.stack([self._by_unit[u] for u in want])), "seconds": 0.0,
                        "rows": 0, "grad_rows": 0, "loaded": True}
        return None


def compact(run_dir: str, key: str, dtype: str = "float32") -> int:
    """Compact the cell's map parts (batch order) into ``results/<cell>.maps.parquet`` with maps in
    ``dtype``, streaming one part at a time (temp name + atomic rename); returns the row count."""
    import errno

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fastxai.bench.errors import DiskFullError

    out = compacted_path(run_dir, key)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.tmp-{os.getpid()}")
    files = parts.part_files(maps_dir(run_dir, key))
    writer, n = None, 0
    try:
        for b in sorted(files):
            table = pq.read_table(files[b])
            units, sids, arr = decode(table)
            d = table.select(["seconds", "rows", "grad_rows"]).to_pydict()
            t = pa.table(_columns(units, sids, np.ascontiguousarray(arr.astype(dtype)), d["seconds"], d["rows"],
                                  d["grad_rows"]))
            writer = writer or pq.ParquetWriter(tmp, t.schema)
            writer.write_table(t)
            n += t.num_rows
        if writer is None:
            pq.write_table(pa.table({}), tmp)
        else:
            writer.close()
        os.replace(tmp, out)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(errno.ENOSPC, f"no space left writing {out}") from exc
        raise
    return n


def read_maps(run_dir: str, key: str, sample_ids: Sequence[str]) -> Tuple[np.ndarray, List[str], np.ndarray]:
    """The compacted maps of ``sample_ids`` (every unit of them) -> ``decode``'s triple.

    Raises FileNotFoundError when the cell saved no maps."""
    import pyarrow.parquet as pq

    path = compacted_path(run_dir, key)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    if "sample_id" not in pq.read_schema(path).names:  # a cell whose batches had no readable image
        return np.zeros(0, np.int64), [], np.zeros((0, 0, 0), np.float32)
    table = pq.read_table(path, filters=[("sample_id", "in", [str(s) for s in sample_ids])])
    if table.num_rows == 0:
        return np.zeros(0, np.int64), [], np.zeros((0, 0, 0), np.float32)
    return decode(table)
