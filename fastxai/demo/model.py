"""A small CNN and a few-second training loop for the demo (no downloads)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fastxai.demo.data import make_images


class TinyCNN(nn.Module):
    """(N, 1, H, W) -> (N, 2) logits; ReLUs are separate modules (DeepLift / LRP friendly)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(h).flatten(1))


def train_demo_model(steps: int = 80, seed: int = 0) -> TinyCNN:
    """Train TinyCNN on synthetic blob images; returns it in eval mode (~95 % accuracy)."""
    torch.manual_seed(seed)
    model = TinyCNN()
    x, y, _ = make_images(512, seed=seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (64,))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
