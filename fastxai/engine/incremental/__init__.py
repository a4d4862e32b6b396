"""Exact incremental occlusion (Krypton: Nakandala, Kumar & Papakonstantinou, SIGMOD 2019).

An occluding window changes only a box of each early feature map. For a model whose
convolutional prefix traces with torch.fx, the unperturbed activations are computed once;
per perturbation only the changed box of each conv / pool / norm / activation / residual /
concat output is recomputed from the cached activations (batched across perturbations), and
the model's own forward takes over on whole maps from the first op that is global (pooling
to a vector, a linear head, attention, anything unknown) or whose changed box covers most of
its map. Results equal the full forward's within float rounding. See docs/incremental.md.

    plan = build_plan(model, x, baseline, WindowPerturbations(starts, window, x.shape[1:]))
    plan.applies, plan.reason, plan.flop_ceiling
    outputs = PatchRunner(plan).forward(p0, p1)     # ((p1 - p0) * N, K), perturbation-major
"""
from fastxai.engine.incremental.executor import PatchRunner, materialize, run_all
from fastxai.engine.incremental.geometry import Patch, Regions, Sliding, gather_index, slide
from fastxai.engine.incremental.perturbations import InputRows, SegmentPerturbations, WindowPerturbations
from fastxai.engine.incremental.planner import IncrementalPlan, NodePlan, PlanOptions, build_plan

__all__ = [
    "IncrementalPlan",
    "InputRows",
    "NodePlan",
    "Patch",
    "PatchRunner",
    "PlanOptions",
    "Regions",
    "SegmentPerturbations",
    "Sliding",
    "WindowPerturbations",
    "build_plan",
    "gather_index",
    "materialize",
    "run_all",
    "slide",
]
