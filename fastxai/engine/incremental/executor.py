"""Running a plan: the model's outputs for perturbations [p0, p1), patches batched across them.

Per chunk of k perturbations (B = k·N rows, perturbation-major, as the engine's rows):
the input patches are built; every local node gathers its input patches (cached map + the
producer's patch, through one row index) and runs on them; every full node runs as in the
model on whole maps, its local inputs written into copies of their cached maps first.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor, fx

from fastxai.engine.incremental.geometry import Patch, gather_index
from fastxai.engine.incremental.graph import call_node
from fastxai.engine.incremental.ops import Edge, PatchContext, as_nchw
from fastxai.engine.incremental.planner import IncrementalPlan


class _Source:
    """A producer's cached map, padded for one kind of reader, as rows, followed by room for
    the current chunk's patches: (N·prod(padded) + B·prod(h), C)."""

    def __init__(self, cached: Tensor, edge: Edge) -> None:
        r = cached.dim() - 2
        pads: List[int] = []
        for d in reversed(range(r)):
            lo = edge.pad_lo[d]
            pads += [lo, edge.padded[d] - cached.shape[2 + d] - lo]
        padded = F.pad(cached, pads, value=edge.pad_value) if any(pads) else cached
        self.rows = padded.permute(0, *range(2, r + 2), 1).reshape(-1, cached.shape[1])
        self.n_cached = self.rows.shape[0]
        self.buffer = self.rows
        self.loaded: Any = None

    def load(self, patch_rows: Tensor, token: Any) -> Tensor:
        """The buffer with ``patch_rows`` (M, C) after the cached rows (copied once per chunk)."""
        if self.loaded is token:
            return self.buffer
        m = patch_rows.shape[0]
        if self.buffer.shape[0] < self.n_cached + m:
            self.buffer = torch.empty((self.n_cached + m, self.rows.shape[1]), dtype=self.rows.dtype,
                                      device=self.rows.device)
            self.buffer[: self.n_cached].copy_(self.rows)
        self.buffer[self.n_cached : self.n_cached + m].copy_(patch_rows)
        self.loaded = token
        return self.buffer


class PatchRunner:
    """Computes ``forward(perturbed rows)`` for perturbation ranges of a plan that applies."""

    def __init__(self, plan: IncrementalPlan) -> None:
        if not plan.applies:
            raise ValueError(f"the incremental plan does not apply: {plan.reason}")
        self.plan = plan
        self.info = plan.by_node()
        self.sources: Dict[tuple, _Source] = {}
        self.order = [p for p in plan.nodes if p.mode != "static"]
        self.output_node = next(n for n in plan.gm.graph.nodes if n.op == "output")  # type: ignore[union-attr]
        self.last_use = self._last_uses()

    def _last_uses(self) -> Dict[fx.Node, int]:
        pos = {p.node: i for i, p in enumerate(self.order)}
        last: Dict[fx.Node, int] = {}
        for i, p in enumerate(self.order):
            for a in p.node.all_input_nodes:
                if a in pos:
                    last[a] = i
        for a in self.output_node.all_input_nodes:
            last[a] = len(self.order)  # read by the output: never dropped
        return last

    def forward(self, p0: int, p1: int) -> Tensor:
        """Model outputs for perturbations [p0, p1): ((p1 - p0)·N, *out) as ``forward_func``
        returns on the perturbed rows (row (p - p0)·N + n)."""
        plan, n = self.plan, self.plan.n_examples
        token = object()
        env: Dict[fx.Node, Any] = {}
        full: Dict[fx.Node, Any] = {}
        for i, p in enumerate(self.order):
            if p.mode == "input":
                env[p.node] = plan.perturbations.build(plan.source, p.patch, p0, p1)
            elif p.mode == "local":
                ins = [self._read(e, env, p0, p1, token) for e in p.edges]
                ctx = PatchContext(p0, p1, n, p.patch)  # type: ignore[arg-type]
                env[p.node] = p.op.run(ins, plan.values, ctx)  # type: ignore[union-attr]
            else:
                args = fx.node.map_arg(p.node.args, lambda a: self._whole(a, env, full, p0, p1))
                kwargs = fx.node.map_arg(p.node.kwargs, lambda a: self._whole(a, env, full, p0, p1))
                full[p.node] = call_node(plan.gm, p.node, args, kwargs)  # type: ignore[arg-type]
            for a in p.node.all_input_nodes:
                if self.last_use.get(a) == i:
                    env.pop(a, None)
                    full.pop(a, None)
        return fx.node.map_arg(self.output_node.args[0], lambda a: self._whole(a, env, full, p0, p1))

    def _read(self, edge: Edge, env: Dict[fx.Node, Any], p0: int, p1: int, token: Any) -> Tensor:
        rows = env[edge.producer]
        if edge.direct:
            return rows
        key = edge.source_key
        src = self.sources.get(key)
        if src is None:
            src = self.sources[key] = _Source(self.plan.values[edge.producer], edge)
        c = rows.shape[-1]
        buf = src.load(rows.view(-1, c), token)
        prev: Patch = self.info[edge.producer].patch  # type: ignore[assignment]
        pad = torch.tensor(edge.pad_lo, dtype=torch.long, device=prev.off.device)
        idx = gather_index(edge.start[p0:p1], edge.extent, edge.padded, self.plan.n_examples,  # type: ignore[index]
                           (prev.off[p0:p1] + pad, prev.h, src.n_cached))
        return buf.index_select(0, idx).view((rows.shape[0],) + edge.extent + (c,))

    def _whole(self, a: fx.Node, env: Dict[fx.Node, Any], full: Dict[fx.Node, Any], p0: int, p1: int) -> Any:
        p = self.info.get(a)
        if p is None or p.mode == "static":
            return self.plan.values[a]
        if a not in full:
            full[a] = materialize(self.plan.values[a], env[a], p.patch, p0, p1)  # type: ignore[arg-type]
        return full[a]


def materialize(cached: Tensor, rows: Tensor, patch: Patch, p0: int, p1: int) -> Tensor:
    """Whole maps (B, C, *S) per row: the cached map (N, C, *S) with each perturbation's
    patch rows (B, *h, C) written in at its offset."""
    k, n, c = p1 - p0, cached.shape[0], cached.shape[1]
    size = tuple(cached.shape[2:])
    # clone, not contiguous(): for k = 1 the expanded view is contiguous already and the
    # patches would be written into the cached map itself
    out = cached.unsqueeze(0).expand((k,) + tuple(cached.shape)).clone(memory_format=torch.contiguous_format)
    hv = patch.volume
    pos = gather_index(patch.off[p0:p1], patch.h, size, 1).view(k, 1, 1, hv)
    src = as_nchw(rows).reshape(k, n, c, hv)
    out.view(k, n, c, -1).scatter_(3, pos.expand(k, n, c, hv), src)
    return out.view((k * n, c) + size)


def run_all(plan: IncrementalPlan, chunk: int = 32) -> Tensor:
    """Every perturbation's model output, (P·N, *out), ``chunk`` perturbations at a time
    (a plain loop for tests and benches; the attribution methods use the engine's loop)."""
    runner = PatchRunner(plan)
    total = plan.perturbations.n_perturbations
    outs: List[Tensor] = []
    with torch.no_grad():
        for p0 in range(0, total, chunk):
            outs.append(runner.forward(p0, min(total, p0 + chunk)))
    return torch.cat(outs, 0)
