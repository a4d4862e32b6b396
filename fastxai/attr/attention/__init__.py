"""Attention family: attention rollout for Vision Transformers."""
from fastxai.attr.attention.rollout import AttentionRollout

__all__ = ["AttentionRollout"]
