"""A tiny Vision Transformer (Dosovitskiy et al. 2021) for attention rollout: patch embedding,
a class token, pre-norm encoder blocks built on ``nn.MultiheadAttention``, a linear head."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class EncoderBlock(nn.Module):
    """Pre-norm transformer block. (N, T, D) -> (N, T, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """(N, C, H, W) -> (N, K), H and W multiples of ``patch``.

    Args:
        in_channels: C. num_classes: K. image_size: H = W the position table is built for.
        patch: patch side. dim: token width D. depth: encoder blocks. heads: attention heads.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        image_size: int = 64,
        patch: int = 8,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} must be a multiple of patch {patch}")
        self.patch = patch
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (image_size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)  # (N, T-1, D)
        if t.shape[1] + 1 != self.pos.shape[1]:
            raise ValueError(
                f"TinyViT was built for {self.pos.shape[1] - 1} patches, got an input of "
                f"{tuple(x.shape[-2:])} pixels ({t.shape[1]} patches of {self.patch})"
            )
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        return self.head(self.norm(self.blocks(t))[:, 0])
