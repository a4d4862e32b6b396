"""Built-in architectures for the demo, the benchmark backend, tests and benches.

torchvision and timm do not work with every torch build fastxai supports, so the few
architectures the project needs are written here, in plain ``torch.nn``: every nonlinearity is
its own module (DeepLift / LRP / GuidedBackprop need module ReLUs) and no module is called twice
in one forward. All take ``(N, C, H, W)`` images and return ``(N, K)`` logits.

``get_model("resnet18", in_channels=1, num_classes=2)`` builds one by name; ``MODELS`` lists them.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from torch import nn

from fastxai.models.cnn import SmallCNN
from fastxai.models.densenet import DenseNet, densenet_small
from fastxai.models.resnet import ResNet, resnet18, resnet_small
from fastxai.models.vgg import VGG, vgg11, vgg_small
from fastxai.models.vit import TinyViT

MODELS: Dict[str, Callable[..., nn.Module]] = {
    "small_cnn": SmallCNN,
    "resnet18": resnet18,
    "resnet_small": resnet_small,
    "vgg11": vgg11,
    "vgg_small": vgg_small,
    "densenet_small": densenet_small,
    "tiny_vit": TinyViT,
}


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the built-in architecture ``name`` (see ``MODELS``) with ``kwargs``
    (``in_channels``, ``num_classes`` and architecture-specific widths)."""
    if name not in MODELS:
        import difflib

        close = difflib.get_close_matches(name, list(MODELS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown built-in model {name!r}{hint} (known: {', '.join(sorted(MODELS))})")
    return MODELS[name](**kwargs)


__all__ = [
    "MODELS",
    "DenseNet",
    "ResNet",
    "SmallCNN",
    "TinyViT",
    "VGG",
    "densenet_small",
    "get_model",
    "resnet18",
    "resnet_small",
    "vgg11",
    "vgg_small",
]
