"""Streaming ``DataLoader`` over explain units (or images), tolerant of bad files.

Each item is one unit (a sample and a class) read through ``fastxai.bench.imageio``; a file
that cannot be read becomes an error record (path + reason) instead of an exception, so the
collate function drops it and the stage reports it by name (``run.on_bad_file = "skip"``) or
fails the cell naming it (``"fail"``) — finished batches are already on disk either way.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset


class UnitDataset(Dataset):
    """Unit ``i`` -> ``{"unit", "sample_id", "target", "image" (C, H, W)}`` or an error record."""

    def __init__(self, units: Any, root: str, preprocess: Any) -> None:
        self.unit = units["unit"].to_numpy()
        self.sample_id = units["sample_id"].tolist()
        self.target = units["target"].to_numpy()
        self.root, self.pp = root, preprocess
        self.pos = {int(u): i for i, u in enumerate(self.unit)}

    def __len__(self) -> int:
        return len(self.unit)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        from fastxai.bench.imageio import read_image

        rec = {"unit": int(self.unit[i]), "sample_id": self.sample_id[i], "target": int(self.target[i])}
        path = os.path.join(self.root, self.sample_id[i])
        try:
            rec["image"] = read_image(path, self.pp.hw(), self.pp.channels, self.pp.mean, self.pp.std,
                                      self.pp.window, self.pp.invert_monochrome1)
        except Exception as exc:  # noqa: BLE001 - reported by name by the stage
            rec["error"] = (path, f"{type(exc).__name__}: {exc}")
        return rec


def collate(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack the good items; keep the errors."""
    good = [it for it in items if "error" not in it]
    out: Dict[str, Any] = {"errors": [it["error"] for it in items if "error" in it]}
    out["unit"] = torch.tensor([it["unit"] for it in good], dtype=torch.int64)
    out["sample_id"] = [it["sample_id"] for it in good]
    out["target"] = torch.tensor([it["target"] for it in good], dtype=torch.int64)
    out["image"] = torch.stack([it["image"] for it in good]) if good else None
    return out


def batch_plan(n_units: int, batch_size: int) -> List[Tuple[int, int]]:
    """Global batches ``b -> [lo, hi)`` over the unit list (independent of the number of ranks)."""
    return [(lo, min(lo + batch_size, n_units)) for lo in range(0, n_units, batch_size)]


def rank_batches(n_batches: int, rank: int, world: int, skip: Sequence[int] = ()) -> List[int]:
    """The batches of ``rank``: ``b % world == rank``, minus those already done."""
    done = set(skip)
    return [b for b in range(rank, n_batches, world) if b not in done]


def make_loader(dataset: UnitDataset, batches: List[Tuple[int, int]], batch_ids: List[int],
                num_workers: int) -> DataLoader:
    """Iterate ``batch_ids`` in order; yields collated batches (workers prefetch)."""
    sampler = [list(range(*batches[b])) for b in batch_ids]
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      persistent_workers=False)
