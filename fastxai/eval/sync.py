"""Cross-rank combination of metric states with tensor collectives only (no object pickling).

* ``check_settings``: every rank gathers every rank's setting digests (one int64 per setting,
  ``fastxai.eval.settings.digests``) and vocabulary-label digests, and raises the same
  ``InputError`` naming the differing settings on every rank (no rank is left waiting).
* ``all_reduce``: sum / max / min states.
* ``gather_cat``: ``cat`` states; a fixed-size header (has data, dtype, shape) is gathered first,
  then the data padded to the largest row count, then each rank's rows are cut back out, in rank
  order. Peers' dtypes and trailing shapes must agree (else ``InputError``).

Trust boundary: peers send only tensors of the declared dtypes and shapes; nothing received is
unpickled or executed. A peer can still send wrong numbers (as any rank of a job can); indices
received (e.g. group codes) are validated by the metric before use.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import torch
import torch.distributed as dist

from fastxai.eval.errors import InputError
from fastxai.eval.settings import digest, digests

_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}
_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
           torch.bfloat16, torch.float32, torch.float64)
_MAX_DIMS = 6


def initialised() -> bool:
    """True when a ``torch.distributed`` process group is up."""
    return dist.is_available() and dist.is_initialized()


def _device(group: Any) -> torch.device:
    """CPU for gloo / mpi; the current CUDA device for NCCL (which cannot reduce CPU tensors)."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _gather(t: torch.Tensor, group: Any) -> List[torch.Tensor]:
    dev = _device(group)
    parts = [torch.empty_like(t, device=dev) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, t.to(dev), group=group)
    return [p.cpu() for p in parts]


def check_settings(class_name: str, settings: dict, labels: Optional[Sequence[Any]], group: Any = None) -> None:
    """Raise ``InputError`` (on every rank) unless all ranks hold the same class, settings and label set."""
    names, dg = digests(class_name, settings)
    label_dg = sorted(digest(lab) for lab in labels) if labels is not None else []
    sizes = _gather(torch.tensor([len(dg), len(label_dg)], dtype=torch.int64), group)
    if any(int(s[0]) != len(dg) for s in sizes):
        raise InputError(f"sync: the ranks hold different metric classes or settings ({class_name} here)")
    if any(int(s[1]) != len(label_dg) for s in sizes):
        counts = [int(s[1]) for s in sizes]
        raise InputError(f"sync: setting 'groups' differs across ranks: {counts} group labels per rank "
                         "(build every rank's metric with the same vocabulary; the order may differ)")
    got = torch.stack(_gather(torch.tensor(dg, dtype=torch.int64), group))
    bad = [i for i in range(len(dg)) if bool((got[:, i] != got[0, i]).any())]
    if bad:
        which = ["<metric class / setting names>" if i == 0 else repr(names[i - 1]) for i in bad]
        raise InputError(f"sync: cannot combine metric states built with different settings across ranks: "
                         f"{', '.join(which)} differ")
    if label_dg:
        got = torch.stack(_gather(torch.tensor(label_dg, dtype=torch.int64), group))
        if bool((got != got[0]).any()):
            raise InputError("sync: setting 'groups' differs across ranks: the group label sets are not the same "
                             "(the order may differ, the labels may not)")


def all_reduce(value: torch.Tensor, reduce: str, group: Any = None) -> torch.Tensor:
    """``value`` reduced over ranks (sum / max / min), a new CPU tensor."""
    buf = value.detach().clone().to(_device(group))
    dist.all_reduce(buf, op=getattr(dist.ReduceOp, _OPS[reduce]), group=group)
    return buf.cpu()


def _header(local: Optional[torch.Tensor]) -> torch.Tensor:
    hdr = torch.full((4 + _MAX_DIMS,), -1, dtype=torch.int64)
    if local is None:
        hdr[0] = 0
        return hdr
    if local.dim() - 1 > _MAX_DIMS or local.dtype not in _DTYPES:
        raise InputError(f"cannot sync a cat state of dtype {local.dtype} with {local.dim()} dims")
    hdr[0], hdr[1], hdr[2], hdr[3] = 1, _DTYPES.index(local.dtype), local.dim(), local.shape[0]
    hdr[4:4 + local.dim() - 1] = torch.tensor(local.shape[1:], dtype=torch.int64)
    return hdr


def gather_cat(name: str, values: List[torch.Tensor], group: Any = None) -> List[torch.Tensor]:
    """Every rank's rows of a ``cat`` state, in rank order (ranks without rows contribute nothing)."""
    local = torch.cat([v.detach().cpu() for v in values]) if values else None
    heads = [h for h in _gather(_header(local), group)]
    have = [h for h in heads if int(h[0]) == 1]
    if not have:
        return []
    ref = have[0]
    if any(not torch.equal(h[1:3], ref[1:3]) or not torch.equal(h[4:], ref[4:]) for h in have):
        raise InputError(f"sync: state {name!r} has different dtypes or per-row shapes across ranks")
    dtype = _DTYPES[int(ref[1])]
    trail = [int(d) for d in ref[4:4 + int(ref[2]) - 1]]
    n_max = max(int(h[3]) for h in have)
    wire = torch.uint8 if dtype == torch.bool else dtype
    buf = torch.zeros([n_max] + trail, dtype=wire)
    if local is not None:
        buf[: local.shape[0]] = local.to(wire)
    parts = _gather(buf, group)
    return [p[: int(h[3])].to(dtype) for p, h in zip(parts, heads) if int(h[0]) == 1 and int(h[3]) > 0]
