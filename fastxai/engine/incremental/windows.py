"""Convolution and pooling modules as :class:`~fastxai.engine.incremental.ops.WindowOp`:
their per-dim geometry (kernel, stride, padding, dilation), pad value and FLOPs."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from fastxai.engine.incremental.geometry import Sliding
from fastxai.engine.incremental.ops import WindowOp, avg_pool_fn, conv_fn, max_pool_fn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MAXPOOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVGPOOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def _tup(v: Any, r: int) -> Tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * r
        return tuple(int(a) for a in v)
    return (int(v),) * r


def _dims(k: Sequence[int], s: Sequence[int], pad: Sequence[int], d: Sequence[int],
          x: Tensor, y: Tensor) -> List[Sliding]:
    return [Sliding(k[i], s[i], pad[i], d[i], x.shape[2 + i], y.shape[2 + i]) for i in range(len(k))]


def _module_rank(m: nn.Module) -> int:
    for group in (_CONVS, _MAXPOOLS, _AVGPOOLS):
        for i, cls in enumerate(group):
            if type(m) is cls or isinstance(m, cls):
                return i + 1
    return 0


def window_op(module: nn.Module, producers: List[fx.Node], values: Dict[fx.Node, Any],
              node: fx.Node, r: int) -> Tuple[Optional[WindowOp], str]:
    """(op, "") for a supported conv / pool module; (None, reason) for one that is not local;
    (None, "") when the module is no conv or pool at all."""
    rank = _module_rank(module)
    if rank == 0:
        return None, ""
    name = f"{node.target} ({type(module).__name__})"
    if rank != r or len(producers) != 1 or len(node.args) != 1 or node.kwargs:
        return None, f"{name} is not a {r}-D sliding window over the input map"
    x, y = values[producers[0]], values[node]
    if isinstance(module, _CONVS):
        return _conv(module, producers[0], x, y, r, name)
    if isinstance(module, _MAXPOOLS):
        if module.return_indices:
            return None, f"{name} returns indices"
        k, s = _tup(module.kernel_size, r), _tup(module.stride or module.kernel_size, r)
        pad, d = _tup(module.padding, r), _tup(module.dilation, r)
        dims = _dims(k, s, pad, d, x, y)
        return WindowOp(producers[0], dims, max_pool_fn(k, s, d, r), float("-inf"),
                        float(_prod(k) * y.shape[1])), ""
    return _avg(module, producers[0], x, y, r)


def _conv(m: nn.Module, producer: fx.Node, x: Tensor, y: Tensor, r: int,
          name: str) -> Tuple[Optional[WindowOp], str]:
    if m.padding_mode != "zeros":
        return None, f"{name} pads with {m.padding_mode!r} (only zero padding is local)"
    k, s, d = _tup(m.kernel_size, r), _tup(m.stride, r), _tup(m.dilation, r)
    if isinstance(m.padding, str):
        pad = (0,) * r if m.padding == "valid" else tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
    else:
        pad = _tup(m.padding, r)
    dims = _dims(k, s, pad, d, x, y)
    flops = 2.0 * (m.in_channels // m.groups) * _prod(k) * m.out_channels
    return WindowOp(producer, dims, conv_fn(m, r), 0.0, flops), ""


def _avg(m: nn.Module, producer: fx.Node, x: Tensor, y: Tensor, r: int) -> Tuple[Optional[WindowOp], str]:
    k, s = _tup(m.kernel_size, r), _tup(m.stride or m.kernel_size, r)
    pad = _tup(m.padding, r)
    override = getattr(m, "divisor_override", None)
    dims = _dims(k, s, pad, (1,) * r, x, y)
    flops = float(_prod(k) * y.shape[1])
    simple = override is not None or (not m.ceil_mode and (m.count_include_pad or not any(pad)))
    if simple:
        return WindowOp(producer, dims, avg_pool_fn(k, s, r, override), 0.0, flops), ""
    divisor = _divisor_map(m, x, r, k, s, pad)
    return WindowOp(producer, dims, avg_pool_fn(k, s, r, 1), 0.0, flops, divisor), ""


def _divisor_map(m: nn.Module, x: Tensor, r: int, k: Sequence[int], s: Sequence[int],
                 pad: Sequence[int]) -> Tensor:
    """(1, 1, *S_out) divisor the pool uses at each output (it varies near the border with
    count_include_pad=False or ceil_mode): window sum of ones / the module's mean of ones."""
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    mean = m(ones)
    if r == 1:
        total = F.avg_pool2d(ones.unsqueeze(2), (1, k[0]), (1, s[0]), (0, pad[0]), m.ceil_mode,
                             m.count_include_pad, 1).squeeze(2)
    else:
        pool = F.avg_pool2d if r == 2 else F.avg_pool3d
        total = pool(ones, tuple(k), tuple(s), tuple(pad), m.ceil_mode, m.count_include_pad, 1)
    return torch.round(total / mean)


def _prod(xs: Sequence[int]) -> int:
    v = 1
    for a in xs:
        v *= int(a)
    return v
