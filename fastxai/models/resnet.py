"""ResNet-style nets (He et al. 2016) with basic blocks: ``resnet18`` has torchvision's layout
(7x7 stride-2 stem, 3x3 max pool, stages [2, 2, 2, 2] of width w, 2w, 4w, 8w)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn


class Add(nn.Module):
    """Residual addition as a module (LRP / DeepLift rules attach to modules)."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU. (N, Cin, H, W) -> (N, Cout, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.add(y, self.shortcut(x)))


class ResNet(nn.Module):
    """(N, C, H, W) -> (N, K).

    Args:
        in_channels: C. num_classes: K. width: channels of the first stage.
        blocks: basic blocks per stage (each later stage halves H, W and doubles channels).
        stem: "imagenet" (7x7 stride 2 + 3x3 max pool, /4) or "small" (one 3x3 conv, /1).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        width: int = 64,
        blocks: Sequence[int] = (2, 2, 2, 2),
        stem: str = "imagenet",
    ) -> None:
        super().__init__()
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(3, 2, 1),
            )
        elif stem == "small":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
            )
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        stages = []
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            stride = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, stride if j == 0 else 1) for j in range(n)])
            )
            cin = cout
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


def resnet18(in_channels: int = 3, num_classes: int = 2, width: int = 64) -> ResNet:
    """ResNet-18 layout (11.2 M parameters at width 64, 3 channels, 1,000 classes: as torchvision)."""
    return ResNet(in_channels, num_classes, width, (2, 2, 2, 2), "imagenet")


def resnet_small(in_channels: int = 1, num_classes: int = 2, width: int = 16) -> ResNet:
    """ResNet-18 layout at a quarter of the width (about 0.7 M parameters): fast on CPU."""
    return ResNet(in_channels, num_classes, width, (2, 2, 2, 2), "imagenet")
