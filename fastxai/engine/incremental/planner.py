"""The plan: which nodes run on patches, where the full forward takes over, and why.

A node is
* ``static``: independent of the input (its cached value serves every perturbation);
* ``local``: a local op whose dynamic inputs are local and whose patch covers at most
  ``max_local_fraction`` of its map: recomputed on patches only;
* ``full``: anything else (a global or unknown op, a patch too large to pay, or an input that
  is full already): run as in the model, on whole maps with one row per perturbation and
  example, its local inputs first written into copies of their cached maps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from torch import Tensor, fx

from fastxai.engine.incremental.flops import ceiling, node_flops
from fastxai.engine.incremental.geometry import Patch, Regions
from fastxai.engine.incremental.graph import check_inplace, classify, dynamic_nodes, run_cached, trace
from fastxai.engine.incremental.ops import Edge, LocalOp
from fastxai.engine.incremental.perturbations import InputRows


@dataclass
class NodePlan:
    """One fx node's part. FLOPs are per example; ``ideal`` = over its exact changed box
    (mean over perturbations) or its whole map after the first global op."""

    node: fx.Node
    mode: str
    op: Optional[LocalOp] = None
    reason: str = ""
    regions: Optional[Regions] = None
    patch: Optional[Patch] = None
    edges: List[Edge] = field(default_factory=list)
    flops_full: float = 0.0
    flops_ideal: float = 0.0
    flops_planned: float = 0.0


@dataclass
class PlanOptions:
    """``max_local_fraction``: the largest share of a map a patch may cover before the full
    forward takes over; ``min_speedup``: the planned FLOP ratio below which the plan is not
    worth it (gathers and smaller convolutions cost more per FLOP than whole maps: in smoke
    runs a 1.16x plan was slower than the full path and a 1.56x plan 1.17x faster, so "auto"
    asks for 1.5x; to be re-tuned on a quiet machine); ``tau``: Krypton's projective-field
    threshold (1 = exact; below 1 approximate)."""

    max_local_fraction: float = 0.6
    min_speedup: float = 1.5
    tau: float = 1.0


@dataclass
class IncrementalPlan:
    """The decision for one (model, input, perturbations) call and everything the runner needs.

    ``applies``: whether the incremental path runs; ``reason``: why not, or a summary of what
    runs locally and where the full forward takes over. ``flop_ceiling`` = full / ideal FLOPs,
    ``planned_speedup`` = full / planned FLOPs (what the plan can reach counting FLOPs).
    """

    applies: bool
    reason: str
    gm: Optional[fx.GraphModule] = None
    nodes: List[NodePlan] = field(default_factory=list)
    values: Dict[fx.Node, Any] = field(default_factory=dict)
    output: Any = None
    perturbations: Any = None
    source: Optional[InputRows] = None
    n_examples: int = 0
    flop_ceiling: float = 1.0
    planned_speedup: float = 1.0
    approximate: bool = False

    @property
    def path(self) -> str:
        return "incremental" if self.applies else "full"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    def by_node(self) -> Dict[fx.Node, NodePlan]:
        return {p.node: p for p in self.nodes}


def build_plan(model: Any, x: Tensor, baseline: Tensor, perturbations: Any,
               options: Optional[PlanOptions] = None) -> IncrementalPlan:
    """Trace ``model``, run it once on ``x`` (N, C, *S) keeping every value, and decide
    per node. Never raises for an unsupported model: the plan says why it does not apply."""
    opts = options or PlanOptions()
    if not x.is_floating_point() or not 3 <= x.dim() <= 5:
        return IncrementalPlan(False, f"the input must be a float (N, C, *S) tensor with 1-3 spatial dims, got {x.dtype} {tuple(x.shape)}")
    gm, why = trace(model)
    if gm is None:
        return IncrementalPlan(False, why)
    why = check_inplace(gm)
    if why:
        return IncrementalPlan(False, why)
    try:
        values, output = run_cached(gm, x)
    except Exception as e:  # noqa: BLE001 - the traced graph does not run: use the model itself
        return IncrementalPlan(False, f"the traced model does not run ({type(e).__name__}: {str(e)[:200]})")
    n = x.shape[0]
    if not isinstance(output, Tensor) or output.dim() == 0 or output.shape[0] != n:
        return IncrementalPlan(False, "the model's output is not one tensor with a row per example")
    plan = IncrementalPlan(False, "", gm, [], values, output, perturbations, InputRows(x, baseline), n)
    plan.approximate = opts.tau < 1.0
    _decide(plan, dynamic_nodes(gm), x.dim() - 2, opts)
    _summarise(plan, opts)
    return plan


def _decide(plan: IncrementalPlan, dyn: set, r: int, opts: PlanOptions) -> None:
    gm, values, n = plan.gm, plan.values, plan.n_examples
    info: Dict[fx.Node, NodePlan] = {}
    ideal: Dict[fx.Node, Optional[Regions]] = {}
    for node in gm.graph.nodes:  # type: ignore[union-attr]
        if node.op == "output":
            continue
        if node not in dyn:
            info[node] = NodePlan(node, "static")
        elif node.op == "placeholder":
            reg = plan.perturbations.regions()
            info[node] = NodePlan(node, "input", regions=reg, patch=Patch.covering(reg))
            ideal[node] = reg
        else:
            info[node] = _node_plan(gm, node, values, dyn, n, r, info, ideal, opts)
        plan.nodes.append(info[node])


def _node_plan(gm: fx.GraphModule, node: fx.Node, values: Dict[fx.Node, Any], dyn: set, n: int,
               r: int, info: Dict[fx.Node, NodePlan], ideal: Dict[fx.Node, Optional[Regions]],
               opts: PlanOptions) -> NodePlan:
    op, why = classify(gm, node, values, dyn, n, r)
    p = NodePlan(node, "full", op, why)
    out = values[node]
    if op is None:
        p.flops_full = p.flops_ideal = p.flops_planned = node_flops(gm, node, values, n)
        ideal[node] = None
        return p
    positions = 1
    for s in out.shape[2:]:
        positions *= int(s)
    p.flops_full = op.flops_per_position * positions
    ins = [ideal.get(q) for q in op.producers]
    ideal[node] = op.regions(ins) if all(i is not None for i in ins) else None  # type: ignore[arg-type]
    exact = ideal[node]
    p.flops_ideal = p.flops_full if exact is None else op.flops_per_position * float(exact.volume().double().mean())
    p.flops_planned = p.flops_full
    producers = [info[q] for q in op.producers]
    not_local = [q for q in producers if q.mode not in ("local", "input")]
    if not_local:
        p.reason = f"reads {not_local[0].node.name}, which runs on whole maps"
        return p
    reg = op.regions([q.regions for q in producers])  # type: ignore[misc]
    if opts.tau < 1.0:
        reg = reg.cap(opts.tau)
    patch = Patch.covering(reg)
    share = patch.volume / positions
    if share > opts.max_local_fraction:
        p.reason = f"its patch {'x'.join(map(str, patch.h))} covers {share:.0%} of its map {'x'.join(map(str, patch.size))}"
        return p
    p.mode, p.regions, p.patch, p.reason = "local", reg, patch, ""
    p.edges = op.edges(patch, [q.patch for q in producers])  # type: ignore[misc]
    p.flops_planned = op.flops_per_position * patch.volume
    return p


def _summarise(plan: IncrementalPlan, opts: PlanOptions) -> None:
    full = sum(p.flops_full for p in plan.nodes)
    plan.flop_ceiling = ceiling(full, sum(p.flops_ideal for p in plan.nodes))
    plan.planned_speedup = ceiling(full, sum(p.flops_planned for p in plan.nodes))
    local = [p for p in plan.nodes if p.mode == "local"]
    first_full = next((p for p in plan.nodes if p.mode == "full"), None)
    if not local:
        why = first_full.reason if first_full is not None else "no op depends on the input"
        plan.reason = f"no op after the input can run on patches: {why}"
        return
    switch = f"; full forward from {first_full.node.name}: {first_full.reason}" if first_full else ""
    summary = (f"{len(local)} ops on patches{switch}; FLOP ceiling {plan.flop_ceiling:.2f}x, "
               f"planned {plan.planned_speedup:.2f}x")
    if plan.planned_speedup < opts.min_speedup:
        plan.reason = f"planned FLOP speed-up {plan.planned_speedup:.2f}x is below {opts.min_speedup:.2f}x ({summary})"
        return
    plan.applies = True
    plan.reason = summary + (f" (approximate, tau={opts.tau})" if plan.approximate else "")
