"""``fastxai bench train``: train a built-in architecture on the configured data, cached.

The cache key hashes everything that changes the weights: architecture and its arguments, the
train section, the dataset's content hash and training split, preprocessing, labels, task and
the torch version. Weights go to ``<cache>/models/<key>.pt`` (a state dict, written atomically)
with ``<key>.json`` beside it (what was trained, loss per epoch). Multi-label tasks train with
one sigmoid per label (BCE), multi-class with softmax cross-entropy.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict

import torch
from torch import nn

from fastxai.bench.store import cell_key


def cache_dir(cfg: Any) -> str:
    """``run.cache_dir``, else ``$FASTXAI_CACHE``, else ``~/.cache/fastxai``."""
    return cfg.run.cache_dir or os.environ.get("FASTXAI_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fastxai")


def train_key(spec: Any, cfg: Any, table: Any) -> str:
    """The cache key of ``spec`` trained under ``cfg`` on ``table``."""
    from fastxai.bench.modelspec import architecture_kwargs

    return cell_key({"arch": spec.arch, "kwargs": architecture_kwargs(spec, cfg), "train": spec.train.model_dump(),
                     "data": table.content_hash, "split": table.split_hash(spec.train.split),
                     "preprocess": cfg.dataset.preprocess.model_dump(), "labels": cfg.dataset.labels,
                     "task": cfg.dataset.task, "torch": torch.__version__.split("+")[0]})


def _train_data(cfg: Any, table: Any, split: str):
    from fastxai.bench.loader import UnitDataset

    s = table.samples[table.samples["split"] == split].reset_index(drop=True)
    if s.empty:
        raise ValueError(f"split {split!r} has no samples to train on")
    units = s[["sample_id"]].copy()
    units.insert(0, "unit", range(len(units)))
    units["target"] = 0
    y = torch.tensor(s[[f"y_{lab}" for lab in table.labels]].to_numpy(), dtype=torch.float32)
    return UnitDataset(units, cfg.dataset.root, cfg.dataset.preprocess), y


def train_model(model: nn.Module, cfg: Any, table: Any, tr: Any, quiet: bool = True) -> Dict[str, Any]:
    """Train ``model`` in place; returns a log (loss per epoch, seconds, images)."""
    from torch.utils.data import DataLoader

    from fastxai.bench.loader import collate

    ds, y = _train_data(cfg, table, tr.split)
    g = torch.Generator().manual_seed(tr.seed)
    torch.manual_seed(tr.seed)
    loader = DataLoader(ds, batch_size=tr.batch_size, shuffle=True, generator=g, collate_fn=collate,
                        num_workers=cfg.run.num_workers)
    opt = torch.optim.Adam(model.parameters(), lr=tr.lr, weight_decay=tr.weight_decay)
    model.train().to(cfg.run.device)
    losses, t0 = [], time.perf_counter()
    for epoch in range(tr.epochs):
        total, n = 0.0, 0
        for batch in loader:
            if batch["image"] is None:
                continue
            x = batch["image"].to(cfg.run.device)
            if tr.augment:
                x = torch.where(torch.rand(x.shape[0], 1, 1, 1, generator=g) < 0.5, x.flip(-1), x)
            yb = y[batch["unit"]].to(cfg.run.device)
            out = model(x)
            if cfg.dataset.task == "multiclass":
                loss = nn.functional.cross_entropy(out, yb.argmax(1))
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()) * x.shape[0], n + x.shape[0]
        losses.append(total / max(n, 1))
        if not quiet:
            print(f"  epoch {epoch + 1}/{tr.epochs}: loss {losses[-1]:.4f}", flush=True)
    return {"loss": losses, "seconds": time.perf_counter() - t0, "images": len(ds)}


def trained_weights(spec: Any, cfg: Any, table: Any, quiet: bool = True, force: bool = False) -> str:
    """Path of the cached trained weights of ``spec`` (training them first if absent)."""
    from fastxai.bench.dataset import build_table
    from fastxai.bench.modelspec import construct

    table = table if table is not None else build_table(cfg)
    key = train_key(spec, cfg, table)
    folder = os.path.join(cache_dir(cfg), "models")
    path = os.path.join(folder, f"{key}.pt")
    if os.path.exists(path) and not force:
        return path
    os.makedirs(folder, exist_ok=True)
    if not quiet:
        print(f"training {spec.name} ({spec.arch}) on split {spec.train.split!r}, cache key {key}", flush=True)
    model = construct(spec, cfg)
    log = train_model(model, cfg, table, spec.train, quiet=quiet)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)
    with open(os.path.join(folder, f"{key}.json"), "w") as f:
        json.dump({"model": spec.name, "arch": spec.arch, "train": spec.train.model_dump(), **log}, f, indent=1)
    return path
