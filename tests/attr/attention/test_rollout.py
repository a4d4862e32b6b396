"""AttentionRollout on tiny ViTs (nn.TransformerEncoderLayer and a timm-style block) against a
rollout computed by hand from the attention matrices torch / the module itself produce."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastxai._captum.errors import InputError
import fastxai.attr as fa


class TinyViT(nn.Module):
    def __init__(self, depth=2, dim=16, heads=2):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 5, dim) * 0.5)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, 32, dropout=0.0, batch_first=True) for _ in range(depth))
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
        for b in self.blocks:
            t = b(t)
        return self.head(t[:, 0])


class TimmAttention(nn.Module):
    """timm's Attention: qkv Linear, optional q/k norm, fused scaled_dot_product_attention."""

    def __init__(self, dim, num_heads, qk_norm=False):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.last_attn = None

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        self.last_attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), -1).detach()  # reference only
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class TimmViT(nn.Module):
    def __init__(self, depth=3, dim=12, heads=3):
        super().__init__()
        self.embed = nn.Linear(6, dim)
        self.attn = nn.ModuleList(TimmAttention(dim, heads, qk_norm=(i == 1)) for i in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(depth))
        self.head = nn.Linear(dim, 2)

    def forward(self, tokens):
        x = self.embed(tokens)
        refs = []
        for a, nrm in zip(self.attn, self.norms):
            x = x + a(nrm(x))
            refs.append(a.last_attn)
        self.refs = refs
        return self.head(x[:, 0])


def hand_rollout(attns, fusion, discard):
    """Loop-per-example rollout, as in the reference implementation (vit-explain)."""
    n, _, t, _ = attns[0].shape
    out = []
    for i in range(n):
        res = np.eye(t)
        for a in attns:
            h = a[i].numpy().astype(np.float64)
            fused = {"mean": h.mean(0), "max": h.max(0), "min": h.min(0)}[fusion].copy()
            flat = fused.reshape(-1)
            k = int(flat.size * discard)
            idx = np.argsort(flat, kind="stable")[:k]
            idx = idx[idx != 0]
            flat[idx] = 0
            a2 = (fused + np.eye(t)) / 2
            a2 = a2 / a2.sum(-1, keepdims=True)
            res = a2 @ res
        out.append(res)
    return torch.tensor(np.stack(out))


def _ref_mha_attns(model, x):
    caps = []
    hooks = [b.self_attn.register_forward_pre_hook(lambda m, a, kw: caps.append((m, a[0])), with_kwargs=True)
             for b in model.blocks]
    with torch.enable_grad():
        model(x)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        return [m(q, q, q, need_weights=True, average_attn_weights=False)[1] for m, q in caps]


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.3])
def test_rollout_transformer_encoder(fusion, discard):
    torch.manual_seed(0)
    model = TinyViT().double().eval()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    ro = fa.AttentionRollout(model)
    maps = ro.attention_maps(x)
    ref_maps = _ref_mha_attns(model, x)
    assert len(maps) == 2
    for a, b in zip(maps, ref_maps):
        torch.testing.assert_close(a, b)
    got = ro.attribute(x, head_fusion=fusion, discard_ratio=discard)
    torch.testing.assert_close(got, hand_rollout(ref_maps, fusion, discard))
    heat = fa.AttentionRollout.token_map(got, (2, 2))
    assert heat.shape == (3, 1, 2, 2) and torch.allclose(heat.amax((1, 2, 3)), torch.ones(3, dtype=heat.dtype))


@pytest.mark.parametrize("fusion", ["mean", "max"])
def test_rollout_timm_style(fusion):
    torch.manual_seed(1)
    model = TimmViT().double().eval()
    tokens = torch.randn(2, 7, 6, dtype=torch.float64)
    got = fa.AttentionRollout(model).attribute(tokens, head_fusion=fusion, discard_ratio=0.2)
    torch.testing.assert_close(got, hand_rollout(model.refs, fusion, 0.2))


def test_rollout_errors():
    with pytest.raises(InputError, match="no attention modules"):
        fa.AttentionRollout(nn.Linear(3, 3))
    torch.manual_seed(0)
    model = TinyViT().double().eval()
    with pytest.raises(InputError, match="head_fusion"):
        fa.AttentionRollout(model).attribute(torch.randn(1, 3, 8, 8, dtype=torch.float64), head_fusion="median")
