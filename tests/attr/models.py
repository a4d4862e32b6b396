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


def pairwise_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the last dim by a fixed pairwise tree of elementwise adds (no torch reduction
    kernel, whose order may depend on the batch size or the thread count)."""
    while t.shape[-1] > 1:
        if t.shape[-1] % 2:
            t = torch.cat([t, torch.zeros_like(t[..., :1])], dim=-1)
        half = t.shape[-1] // 2
        t = t[..., :half] + t[..., half:]
    return t[..., 0]


class RowwiseNet(nn.Module):
    """An *exactly batch-invariant* model, (N, *S) -> (N, K): only elementwise +, *, max and a
    fixed pairwise sum over the features, so a row's output is the same bits whatever the
    other rows, the batch size or the thread count. (Linear / conv layers may round
    differently at another batch size; this model isolates fastxai's own arithmetic.)

    f(x)_k = relu(w_k . x + b_k) + 0.1 (v_k . x)^2, differentiable almost everywhere.
    """

    def __init__(self, n_features: int, k: int = 3, dtype: torch.dtype = torch.float64, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(k, n_features, generator=g).to(dtype))
        self.v = nn.Parameter((0.5 * torch.randn(k, n_features, generator=g)).to(dtype))
        self.b = nn.Parameter((0.1 * torch.randn(k, generator=g)).to(dtype))

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        f = x.reshape(x.shape[0], 1, -1)
        lin = pairwise_sum(f * self.w) + self.b
        quad = pairwise_sum(f * self.v)
        out = torch.relu(lin) + 0.1 * quad * quad
        for e in extra:  # per-example additional args scale the output
            out = out * e.reshape(e.shape[0], 1)
        return out
