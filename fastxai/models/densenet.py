"""DenseNet-style nets (Huang et al. 2017), common in chest X-ray models (CheXNet is a
DenseNet-121): dense blocks of BN-ReLU-conv1x1-BN-ReLU-conv3x3 layers whose outputs are
concatenated, joined by transition layers (BN-ReLU-conv1x1-avgpool)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class DenseLayer(nn.Module):
    """(N, C, H, W) -> (N, C + growth, H, W)."""

    def __init__(self, cin: int, growth: int, bottleneck: int = 4) -> None:
        super().__init__()
        mid = bottleneck * growth
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(mid, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.relu2(self.bn2(self.conv1(self.relu1(self.bn1(x))))))
        return torch.cat([x, y], dim=1)


class Transition(nn.Module):
    """(N, C, H, W) -> (N, C // 2, H / 2, W / 2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(nn.Module):
    """(N, C, H, W) -> (N, K).

    Args:
        in_channels: C. num_classes: K. growth: channels each dense layer adds.
        blocks: dense layers per block (DenseNet-121: (6, 12, 24, 16), growth 32).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        growth: int = 32,
        blocks: Sequence[int] = (6, 12, 24, 16),
    ) -> None:
        super().__init__()
        c = 2 * growth
        layers = [
            nn.Conv2d(in_channels, c, 7, 2, 3, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        ]
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth))
                c += growth
            if i < len(blocks) - 1:
                layers.append(Transition(c, c // 2))
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def densenet_small(in_channels: int = 1, num_classes: int = 2, growth: int = 12) -> DenseNet:
    """A DenseNet-121-shaped net with fewer, thinner layers ((4, 8, 12, 8), growth 12): fast on CPU."""
    return DenseNet(in_channels, num_classes, growth, (4, 8, 12, 8))
