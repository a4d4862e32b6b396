"""Attention rollout (Abnar & Zuidema 2020) for Vision Transformers.

``nn.TransformerEncoderLayer`` calls its attention with ``need_weights=False`` and timm uses
fused attention, so no attention matrix exists to hook. AttentionRollout instead captures what
goes *into* each attention — the (query, key) inputs of an ``nn.MultiheadAttention``, or the
output of a timm-style module's ``qkv`` projection — and recomputes
``softmax(Q K^T / sqrt(d) + masks)`` per head, exactly as the module does.

Rollout: per layer fuse heads (mean / max / min), optionally zero the ``discard_ratio`` lowest
entries of each example's fused matrix (never entry (0, 0), as in the reference
implementation), add the identity for the residual, renormalise rows, and multiply the layers
together: R = A_L ... A_2 A_1. ``attribute`` returns R (N, T, T); row ``cls_index`` over the
patch tokens is the usual heat map (:meth:`AttentionRollout.token_map`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai._captum.attribution import Attribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.engine.forward import call_forward

HEAD_FUSIONS = ("mean", "max", "min")


def is_timm_attention(m: nn.Module) -> bool:
    """A timm-style attention block: a ``qkv`` Linear and ``num_heads``."""
    return isinstance(getattr(m, "qkv", None), nn.Linear) and hasattr(m, "num_heads")


def find_attention_modules(model: nn.Module) -> List[nn.Module]:
    """Every nn.MultiheadAttention and timm-style attention module, in definition order."""
    return [m for m in model.modules() if isinstance(m, nn.MultiheadAttention) or is_timm_attention(m)]


def _mha_attention(m: nn.MultiheadAttention, args: Tuple[Any, ...], kwargs: dict) -> Tensor:
    """Per-head attention probabilities (N, H, Tq, Tk) recomputed from the MHA's inputs."""
    if m.bias_k is not None or m.add_zero_attn:
        raise InputError("AttentionRollout: MultiheadAttention with bias_k / add_zero_attn is not supported")
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")
    bound = dict(zip(names, args))
    bound.update({k: v for k, v in kwargs.items() if k in names + ("is_causal",)})
    q_in, k_in = bound["query"], bound["key"]
    if not m.batch_first:
        q_in, k_in = q_in.transpose(0, 1), k_in.transpose(0, 1)
    e, h = m.embed_dim, m.num_heads
    d = e // h
    if m._qkv_same_embed_dim:
        wq, wk = m.in_proj_weight[:e], m.in_proj_weight[e:2 * e]
    else:
        wq, wk = m.q_proj_weight, m.k_proj_weight
    bq = m.in_proj_bias[:e] if m.in_proj_bias is not None else None
    bk = m.in_proj_bias[e:2 * e] if m.in_proj_bias is not None else None
    q = F.linear(q_in, wq, bq)
    k = F.linear(k_in, wk, bk)
    n, tq, tk = q.shape[0], q.shape[1], k.shape[1]
    q = q.reshape(n, tq, h, d).transpose(1, 2)
    k = k.reshape(n, tk, h, d).transpose(1, 2)
    scores = (q / math.sqrt(d)) @ k.transpose(-2, -1)
    mask = bound.get("attn_mask")
    if bound.get("is_causal") and mask is None:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).triu(1)
    if mask is not None:
        mask = mask.reshape((-1, h) + tuple(mask.shape[-2:])) if mask.dim() == 3 else mask
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    kpm = bound.get("key_padding_mask")
    if kpm is not None:
        kpm = kpm.reshape(n, 1, 1, tk)
        scores = scores.masked_fill(kpm, float("-inf")) if kpm.dtype == torch.bool else scores + kpm
    return torch.softmax(scores, dim=-1)


def _timm_attention(m: nn.Module, qkv: Tensor) -> Tensor:
    """(N, H, T, T) from a timm-style ``qkv`` output (N, T, 3 * C)."""
    n, t, c3 = qkv.shape
    h = m.num_heads
    d = c3 // 3 // h
    q, k, _ = qkv.reshape(n, t, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
    if isinstance(getattr(m, "q_norm", None), nn.Module):
        q = m.q_norm(q)
    if isinstance(getattr(m, "k_norm", None), nn.Module):
        k = m.k_norm(k)
    scale = getattr(m, "scale", d ** -0.5)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)


def fuse_heads(attn: Tensor, head_fusion: str) -> Tensor:
    """(N, H, T, T) -> (N, T, T)."""
    if head_fusion == "mean":
        return attn.mean(dim=1)
    if head_fusion == "max":
        return attn.max(dim=1).values
    if head_fusion == "min":
        return attn.min(dim=1).values
    raise InputError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def rollout(attentions: Sequence[Tensor], head_fusion: str = "mean", discard_ratio: float = 0.0) -> Tensor:
    """Rollout of per-layer attentions [(N, H, T, T), ...] (first layer first) -> (N, T, T)."""
    if not 0.0 <= discard_ratio < 1.0:
        raise InputError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    n, _, t, _ = attentions[0].shape
    eye = torch.eye(t, dtype=attentions[0].dtype, device=attentions[0].device)
    result = eye.expand(n, t, t).clone()
    for attn in attentions:
        fused = fuse_heads(attn, head_fusion)
        k = int(t * t * discard_ratio)
        if k > 0:
            flat = fused.reshape(n, -1).clone()
            _, idx = flat.topk(k, dim=-1, largest=False)
            keep0 = flat[:, :1].clone()
            flat.scatter_(1, idx, 0.0)
            flat[:, :1] = keep0
            fused = flat.reshape(n, t, t)
        a = (fused + eye) / 2
        a = a / a.sum(dim=-1, keepdim=True)
        result = a @ result
    return result


class AttentionRollout(Attribution):
    """Attention rollout for ViTs built from nn.MultiheadAttention (incl. nn.TransformerEncoderLayer)
    or timm-style attention modules. ``attention_modules``: which ones (default: all found)."""

    def __init__(self, model: nn.Module, attention_modules: Optional[Sequence[nn.Module]] = None) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"AttentionRollout needs an nn.Module, got {type(model).__name__}")
        super().__init__(model)
        self.model = model
        mods = list(attention_modules) if attention_modules is not None else find_attention_modules(model)
        if not mods:
            raise InputError(
                "AttentionRollout found no attention modules (nn.MultiheadAttention or a module "
                "with a `qkv` Linear and `num_heads`); pass attention_modules="
            )
        self.attention_modules = mods

    def attention_maps(self, inputs: TensorOrTuple, additional_forward_args: Optional[Any] = None) -> List[Tensor]:
        """Per-layer attention probabilities [(N, H, T, T)] in call order."""
        call = normalize_call(inputs, additional_forward_args=additional_forward_args)
        maps: List[Tensor] = []
        handles = []

        def mha_hook(m: nn.Module, args: Tuple[Any, ...], kwargs: dict) -> None:
            with torch.no_grad():
                maps.append(_mha_attention(m, args, kwargs).detach())

        def make_qkv_hook(owner: nn.Module) -> Callable[..., None]:
            def hook(m: nn.Module, args: Any, out: Tensor) -> None:
                with torch.no_grad():
                    maps.append(_timm_attention(owner, out).detach())
            return hook

        try:
            for m in self.attention_modules:
                if isinstance(m, nn.MultiheadAttention):
                    handles.append(m.register_forward_pre_hook(mha_hook, with_kwargs=True))
                elif is_timm_attention(m):
                    handles.append(m.qkv.register_forward_hook(make_qkv_hook(m)))
                else:
                    raise InputError(f"{type(m).__name__} is not an attention module AttentionRollout understands")
            # grad enabled: keeps nn.TransformerEncoderLayer off its fused fast path (which skips
            # the attention module and its hooks)
            with torch.enable_grad():
                call_forward(self.model, tuple(t.detach() for t in call.inputs), call.additional_args)
        finally:
            for h in handles:
                h.remove()
        if not maps:
            raise InputError(
                "no attention module ran during the forward (a fused fast path, or modules not used): "
                "make sure the model's parameters require grad or pass attention_modules="
            )
        return maps

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        additional_forward_args: Optional[Any] = None,
        head_fusion: str = "mean",
        discard_ratio: float = 0.0,
    ) -> Tensor:
        """inputs (N, ...) -> rollout (N, T, T) over the T tokens."""
        if head_fusion not in HEAD_FUSIONS:
            raise InputError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
        return rollout(self.attention_maps(inputs, additional_forward_args), head_fusion, discard_ratio)

    @staticmethod
    def token_map(result: Tensor, grid: Tuple[int, ...], cls_index: int = 0, n_prefix: int = 1) -> Tensor:
        """Row ``cls_index`` of the rollout over the patch tokens (after ``n_prefix`` prefix
        tokens), reshaped to (N, 1, *grid) and scaled so each map's maximum is 1."""
        row = result[:, cls_index, n_prefix:]
        row = row / row.amax(dim=1, keepdim=True).clamp_min(torch.finfo(row.dtype).tiny)
        return row.reshape((row.shape[0], 1) + tuple(grid))
