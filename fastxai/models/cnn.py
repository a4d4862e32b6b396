"""A small CNN: three conv-BN-ReLU stages, global average pooling, a linear head."""
from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    """(N, C, H, W) -> (N, K). About 25k parameters at ``width=16``; trains in seconds on CPU.

    Args:
        in_channels: C. num_classes: K. width: channels of the first stage (doubled per stage).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16) -> None:
        super().__init__()
        layers = []
        cin = in_channels
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            ]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))
