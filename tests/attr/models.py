"""Small models for parity tests (built the way Captum's tests build theirs)."""
import torch
from torch import nn


class ConvNet(nn.Module):
    """Conv + BatchNorm(eval) + ReLU + MaxPool + residual add, (N, 3, 8, 8) -> (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn(self.conv1(x)))
        h = self.relu2(self.conv2(h)) + h
        return self.fc(self.pool(h).flatten(1))


class MLP(nn.Module):
    def __init__(self, f: int = 10, k: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(f, 16), nn.ReLU(), nn.Linear(16, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TwoInput(nn.Module):
    """forward(image, tabular, scale) -> (N, 3): a multi-input model with an extra arg."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.lin = nn.Linear(5, 3)

    def forward(self, img: torch.Tensor, tab: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return scale * (self.conv(img).mean(dim=(2, 3)) + self.lin(tab))


def make(model: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(0)
    for p in model.parameters():
        nn.init.normal_(p, std=0.5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    return model.to(dtype).eval()


def assert_close(actual, expected, dtype: torch.dtype = torch.float64) -> None:
    """1e-10 on float64; rtol 1e-4 with atol scaled to the largest attribution in float32."""
    actual = actual if isinstance(actual, tuple) else (actual,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if dtype == torch.float64 and e.dtype == torch.float64:
            torch.testing.assert_close(a, e, rtol=0, atol=1e-10)
        else:
            scale = float(e.abs().max()) if e.numel() else 1.0
            torch.testing.assert_close(a.float(), e.float(), rtol=1e-4, atol=1e-5 * max(scale, 1e-6))
