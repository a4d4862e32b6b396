"""Small test nets with the geometry incremental inference must get right, and a brute-force
reference: the model run on every explicitly occluded input."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai.engine.incremental import WindowPerturbations


def window_starts(shape: Sequence[int], window: Sequence[int], stride: Sequence[int]) -> Tensor:
    """(P, rank) window starts in Captum's order (dim 0 fastest), windows clipped at the end."""
    counts = [math.ceil((s - w) / st) + 1 for s, w, st in zip(shape, window, stride)]
    rest = torch.arange(math.prod(counts))
    cols = []
    for c, st in zip(counts, stride):
        cols.append((rest % c) * st)
        rest = rest // c
    return torch.stack(cols, 1)


def windows(x: Tensor, window: Sequence[int], stride: Sequence[int]) -> WindowPerturbations:
    return WindowPerturbations(window_starts(x.shape[1:], window, stride), window, x.shape[1:])


def occluded_outputs(model: nn.Module, x: Tensor, starts: Tensor, window: Sequence[int],
                     baseline: Tensor) -> Tensor:
    """(P·N, K): the model on each occluded copy of x, perturbation-major (the reference)."""
    outs = []
    b = baseline.to(x.dtype).expand_as(x)
    with torch.no_grad():
        for s in starts.tolist():
            xp = x.clone()
            sl = (slice(None),) + tuple(slice(a, a + w) for a, w in zip(s, window))
            xp[sl] = b[sl]
            outs.append(model(xp))
    return torch.cat(outs)


class Add(nn.Module):
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b


class GeometryNet(nn.Module):
    """Strides, padding, dilation, groups, BatchNorm, max / average pools (with padding,
    count_include_pad=False, ceil_mode), a residual add and a 1x1 strided shortcut."""

    def __init__(self, cin: int = 3, k: int = 3) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, 8, 5, stride=2, padding=2)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)
        self.c2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.pool1 = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.c3 = nn.Conv2d(8, 12, (3, 1), padding=(1, 0), bias=False)
        self.short = nn.Conv2d(8, 12, 1)
        self.add = Add()
        self.pool2 = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.c4 = nn.Conv2d(12, 12, 3, padding="same", groups=12)
        self.pool3 = nn.AvgPool2d(2, ceil_mode=True)
        self.head = nn.Linear(12, k)

    def forward(self, x: Tensor) -> Tensor:
        y = self.pool1(self.c2(self.act(self.bn1(self.c1(x)))))
        y = F.relu(self.add(self.c3(y), self.short(y)))
        y = self.pool3(torch.sigmoid(self.c4(self.pool2(y))) * 2.0)
        return self.head(y.mean(dim=(2, 3)))


class FunctionalNet(nn.Module):
    """Functional ops: torch.cat along channels, a per-channel parameter, methods, in-place ReLU."""

    def __init__(self, cin: int = 3, k: int = 3) -> None:
        super().__init__()
        self.a = nn.Conv2d(cin, 4, 3, padding=1)
        self.b = nn.Conv2d(cin, 4, 3, stride=1, padding=1)
        self.scale = nn.Parameter(torch.randn(8, 1, 1))
        self.c = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.head = nn.Linear(6, k)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([self.a(x), F.relu(self.b(x))], dim=1) * self.scale
        y = self.c(y).tanh()
        y = F.relu(y, inplace=True) + 0.1
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))


class Conv1dNet(nn.Module):
    def __init__(self, cin: int = 2, k: int = 2) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv1d(cin, 6, 5, 2, 2), nn.BatchNorm1d(6), nn.GELU(),
                               nn.MaxPool1d(3, 2, 1), nn.Conv1d(6, 6, 3, dilation=2, padding=2),
                               nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False))
        self.head = nn.Linear(6, k)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.f(x).amax(-1))


class Conv3dNet(nn.Module):
    def __init__(self, cin: int = 1, k: int = 2) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv3d(cin, 4, 3, (1, 2, 2), 1), nn.BatchNorm3d(4), nn.ReLU(),
                               nn.MaxPool3d(2), nn.Conv3d(4, 4, 3, padding=1, groups=2))
        self.head = nn.Linear(4, k)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.f(x).mean(dim=(2, 3, 4)))


def randomise_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics (eval mode then uses them)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()
