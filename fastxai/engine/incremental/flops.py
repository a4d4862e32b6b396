"""FLOP counts per node (per example), and the speed-up bound they give.

Counted: convolutions and linear layers as 2·MACs; pools as one op per window tap;
element-wise ops as one per element (BatchNorm two); matmuls as 2·m·k·n per matrix;
any other op as one per output element. Biases and reshapes are not counted.

The *ceiling* of incremental inference is ``full / changed``: ``full`` sums every node over
its whole map, ``changed`` sums each local op over its exact changed box (the mean over
perturbations) and every op from the first global one on (pooling to a vector, a linear
head, attention, anything unknown) over its whole map. No implementation that recomputes
only changed positions can be faster than that by counting FLOPs.
"""
from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn


def node_flops(gm: fx.GraphModule, node: fx.Node, values: Dict[fx.Node, Any], n: int) -> float:
    """FLOPs of one node on its whole map, per example (for nodes that are not local ops)."""
    out = values.get(node)
    if not isinstance(out, Tensor):
        return 0.0
    per_example = out.numel() / max(n, 1)
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.Linear):
            return 2.0 * m.in_features * per_example
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            k = 1
            for a in m.kernel_size:
                k *= int(a)
            return 2.0 * (m.in_channels // m.groups) * k * per_example
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            return 2.0 * per_example
        if isinstance(m, nn.MultiheadAttention):
            return _attention_flops(m, values, node, n)
        return per_example
    if node.op == "call_function" and node.target in (torch.matmul, torch.bmm, F.linear) or (
        node.op == "call_function" and getattr(node.target, "__name__", "") == "matmul"
    ):
        a = values.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        if isinstance(a, Tensor) and a.dim() >= 1:
            return 2.0 * a.shape[-1] * per_example
    return per_example


def _attention_flops(m: nn.MultiheadAttention, values: Dict[fx.Node, Any], node: fx.Node, n: int) -> float:
    q = values.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
    if not isinstance(q, Tensor) or q.dim() != 3:
        return 0.0
    t = q.shape[1] if m.batch_first else q.shape[0]
    d = m.embed_dim
    return 2.0 * (4 * t * d * d + 2 * t * t * d)


def ceiling(full: float, changed: float) -> float:
    """Speed-up bound full / changed (inf when nothing changes)."""
    return float("inf") if changed <= 0 else full / changed
