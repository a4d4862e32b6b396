"""Parity networks built as Captum's DeepLift / LRP require: no module reused, residual adds
as modules, every nonlinearity a module."""
from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.add(x, y))


class ConvNet(nn.Module):
    """conv-BN-ReLU-maxpool-residual block-conv-ReLU-avgpool-linear, (N, 3, H, W) -> (N, K)."""

    def __init__(self, k: int = 4, c: int = 6) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(3, c, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(c)
        self.relu0 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.block = ResBlock(c)
        self.conv3 = nn.Conv2d(c, 8, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu0(self.bn0(self.conv0(x))))
        x = self.relu3(self.conv3(self.block(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class MLP(nn.Module):
    def __init__(self, f: int = 10, h: int = 16, k: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(f, h)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(h, h)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(h, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


class MultiInput(nn.Module):
    """Two tensors + an extra scale argument: f(x1, x2, scale) -> (N, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(4, 8)
        self.relu = nn.ReLU()
        self.add = Add()
        self.out = nn.Linear(8, 3)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.out(self.relu(self.add(self.fc1(x1), self.fc2(x2)))) * scale


def init_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics, eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def conv_net(dtype: torch.dtype = torch.float64, seed: int = 0) -> ConvNet:
    torch.manual_seed(seed)
    return init_bn(ConvNet()).to(dtype)


def mlp(dtype: torch.dtype = torch.float64, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP().to(dtype).eval()


def multi_input(dtype: torch.dtype = torch.float64, seed: int = 0) -> MultiInput:
    torch.manual_seed(seed)
    return MultiInput().to(dtype).eval()


def assert_close(ours, theirs, dtype=torch.float64) -> None:
    """1e-10 in float64; float32: rtol 1e-4 with atol scaled to the largest |attribution|."""
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape, (a.shape, b.shape)
        if dtype == torch.float64:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        else:
            scale = float(b.abs().max()) if b.numel() else 1.0
            torch.testing.assert_close(a.double(), b.double(), rtol=1e-4, atol=1e-5 * max(scale, 1e-6))
