"""A model factory importable by ``fastxai compat --model tests.compat_models:mlp``."""
import torch
from torch import nn


def mlp(d_in: int = 6, d_out: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, 8), nn.ReLU(), nn.Linear(8, d_out))
