"""Saved maps (``run.save_maps``) as Parquet, written and compacted like the score parts.

While an explain cell runs: one part per (cell, rank, batch), ``maps/<cell>/r<rank>-b<batch>.parquet``
(temp name + atomic rename through ``fastxai.bench.parts``; ``ENOSPC`` -> ``DiskFullError``).
When the cell is done: compacted into ``results/<cell>.maps.parquet`` and the parts removed.

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


def write_batch(run_dir: str, key: str, rank: int, batch: int, units: torch.Tensor, sample_ids: Sequence[str],
                maps: torch.Tensor, dtype: str, seconds: float, rows: int, grad_rows: int) -> str:
    """Write one batch's (N, H, W) maps of units (N,) as a part; returns its path."""
    arr = np.ascontiguousarray(maps.detach().cpu().numpy().astype(dtype))
    n, h, w = arr.shape
    columns = {"unit": units.to(torch.int64).numpy(), "sample_id": [str(s) for s in sample_ids],
               "height": np.full(n, h, np.int32), "width": np.full(n, w, np.int32), "dtype": [dtype] * n,
               "map": [arr[i].tobytes() for i in range(n)], "seconds": np.full(n, float(seconds)),
               "rows": np.full(n, int(rows), np.int64), "grad_rows": np.full(n, int(grad_rows), np.int64)}
    return parts.write_part(maps_dir(run_dir, key), rank, batch, columns)


def decode(table: Any) -> Tuple[np.ndarray, List[str], np.ndarray]:
    """A maps table (pyarrow) -> (units (N,), sample ids, maps (N, H, W) float32)."""
    d = table.to_pydict()
    maps = [np.frombuffer(b, dtype=dt).reshape(h, w) for b, dt, h, w in zip(d["map"], d["dtype"], d["height"],
                                                                            d["width"])]
    stacked = np.stack(maps).astype(np.float32) if maps else np.zeros((0, 0, 0), np.float32)
    return np.asarray(d["unit"], dtype=np.int64), list(d["sample_id"]), stacked


class SavedMaps:
    """The saved maps of one explain cell, looked up by batch: its part, else the compacted file."""

    def __init__(self, run_dir: str, key: str) -> None:
        self.files = parts.part_files(maps_dir(run_dir, key))
        path = compacted_path(run_dir, key)
        self.compacted = path if os.path.exists(path) else ""
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


def compact(run_dir: str, key: str) -> int:
    """Compact the cell's map parts into ``results/<cell>.maps.parquet``; returns the row count."""
    return parts.compact(maps_dir(run_dir, key), compacted_path(run_dir, key))


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
