"""VGG-style nets (Simonyan & Zisserman 2015): stacks of 3x3 conv-BN-ReLU and 2x2 max pools."""
from __future__ import annotations

from typing import Sequence, Union

from torch import Tensor, nn

# VGG-11 ("A") stage layout: channel multipliers, "M" = 2x2 max pool.
_VGG11 = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M")


class VGG(nn.Module):
    """(N, C, H, W) -> (N, K): conv stacks, global average pooling, a linear head.

    Args:
        in_channels: C. num_classes: K. width: channels for multiplier 1.
        layout: channel multipliers and "M" for max pools.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        width: int = 64,
        layout: Sequence[Union[int, str]] = _VGG11,
    ) -> None:
        super().__init__()
        layers = []
        cin = in_channels
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                cout = width * int(item)
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
                cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def vgg11(in_channels: int = 3, num_classes: int = 2, width: int = 64) -> VGG:
    """VGG-11 conv layout with batch norm and a global-pool head."""
    return VGG(in_channels, num_classes, width, _VGG11)


def vgg_small(in_channels: int = 1, num_classes: int = 2, width: int = 16) -> VGG:
    """VGG-11 layout at a quarter of the width: fast on CPU."""
    return VGG(in_channels, num_classes, width, _VGG11)
