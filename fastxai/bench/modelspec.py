"""Config model specs -> ``nn.Module`` in eval mode, with an id and a weights hash.

* ``arch = "small_cnn"`` (``fastxai.models.MODELS``): built with ``in_channels`` = the
  preprocessing channels, ``num_classes`` = the number of labels (``image_size`` for
  ``tiny_vit``) and ``params``. Without ``weights`` it is trained on the configured data
  (``fastxai.bench.train``) and cached by config hash.
* ``factory = "package.module:function"``: ``function(**params)`` must return an ``nn.Module``.
* ``weights``: a state dict (or ``{"state_dict": ...}``) loaded with
  ``torch.load(..., weights_only=True)``: no pickled code is ever loaded from a config.
The weights hash is the SHA-256 of the state dict's names, shapes, dtypes and bytes.
"""
from __future__ import annotations

import hashlib
import importlib
from typing import Any, Dict

import torch
from torch import nn


def import_factory(path: str) -> Any:
    """``"package.module:function"`` -> the function (ImportError / AttributeError if absent)."""
    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def architecture_kwargs(spec: Any, cfg: Any) -> Dict[str, Any]:
    """Keyword arguments of a built-in architecture under this config."""
    kw: Dict[str, Any] = {"in_channels": cfg.dataset.preprocess.channels, "num_classes": len(cfg.dataset.labels)}
    if spec.arch == "tiny_vit":
        kw["image_size"] = cfg.dataset.preprocess.hw()[0]
    kw.update(spec.params)
    return kw


def construct(spec: Any, cfg: Any) -> nn.Module:
    """The untrained module of ``spec``."""
    if spec.arch:
        from fastxai.models import get_model

        return get_model(spec.arch, **architecture_kwargs(spec, cfg))
    model = import_factory(spec.factory)(**spec.params)
    if not isinstance(model, nn.Module):
        raise TypeError(f"factory {spec.factory!r} returned {type(model).__name__}, not an nn.Module")
    return model


def load_weights(model: nn.Module, path: str) -> nn.Module:
    """Load a state dict saved with ``torch.save`` (``weights_only=True``: tensors only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model.load_state_dict(state, strict=True)
    return model


def weights_hash(model: nn.Module) -> str:
    """SHA-256 (16 hex) of the model's state dict (names, shapes, dtypes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def build_model(spec: Any, cfg: Any, table: Any = None, quiet: bool = True) -> nn.Module:
    """The ready model of ``spec``: built, weights loaded or trained (cached), eval mode, on the
    run's device, parameters frozen (``requires_grad`` stays on: gradient methods need the graph)."""
    model = construct(spec, cfg)
    if spec.weights:
        load_weights(model, spec.weights)
    elif spec.arch:
        from fastxai.bench.train import trained_weights

        load_weights(model, trained_weights(spec, cfg, table, quiet=quiet))
    return model.eval().to(cfg.run.device)
