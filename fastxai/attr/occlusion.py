"""Occlusion: slide a window of baseline values over each input; an element's attribution is
the mean output drop over the windows that cover it."""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from fastxai._captum.attribution import PerturbationAttribution, log_usage
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import BaselineType, TensorOrTuple, format_output
from fastxai._captum.targets import TargetType
from fastxai.attr._perturbation_common import output_dtype, prepare_call, shape_outputs
from fastxai.attr.feature_ablation import DifferenceAccumulator
from fastxai.engine.incremental.adapter import PlanSummary, check_mode, try_incremental
from fastxai.engine.incremental.perturbations import WindowPerturbations
from fastxai.engine.perturb import run_perturbations
from fastxai.ops.ablate import occlude_boxes


class WindowGrid:
    """The windows of one input tensor: shape S, window w, stride s (per non-batch dim).

    Windows along dim d start at j·s_d for j < ceil((S_d - w_d) / s_d) + 1 and are clipped
    to the tensor. Window number f enumerates positions with dim 0 varying fastest (Captum's order).
    """

    def __init__(self, shape: Sequence[int], window: Sequence[int], stride: Sequence[int]) -> None:
        self.shape, self.window, self.stride = list(shape), list(window), list(stride)
        self.counts = [
            math.ceil((size - w) / s) + 1 for size, w, s in zip(shape, window, stride)
        ]
        self.n_windows = math.prod(self.counts)

    def starts(self, f: Tensor) -> Tensor:
        """(K,) window numbers -> (K, r) start coordinates."""
        if not self.counts:  # r = 0 (inputs of shape (N,)): one window, the whole scalar
            return torch.zeros((f.shape[0], 0), dtype=torch.long, device=f.device)
        cols = []
        rest = f.clone()
        for count, s in zip(self.counts, self.stride):
            cols.append((rest % count) * s)
            rest = rest // count
        return torch.stack(cols, dim=1)

    def coverage(self, d: int, device: torch.device) -> Tensor:
        """(S_d, count_d) 0/1 matrix: element x along dim d lies in window j."""
        pos = torch.arange(self.shape[d], device=device).unsqueeze(1)
        start = torch.arange(self.counts[d], device=device).unsqueeze(0) * self.stride[d]
        return ((pos >= start) & (pos < start + self.window[d])).to(torch.float64)

    def spread(self, diffs: Tensor) -> Tuple[Tensor, Tensor]:
        """(O, n_windows) output drops -> per-element sums (O, *S) and window counts (*S)."""
        o = diffs.shape[0]
        t = diffs.reshape((o,) + tuple(reversed(self.counts)))
        t = t.permute((0,) + tuple(range(len(self.counts), 0, -1)))  # (O, c_0, ..., c_{r-1})
        weights = torch.ones((), dtype=torch.float64, device=diffs.device)
        for d in range(len(self.counts)):
            a = self.coverage(d, diffs.device)
            t = torch.movedim(torch.tensordot(t, a.to(t.dtype), dims=([1 + d], [1])), -1, 1 + d)
            weights = weights.unsqueeze(-1) * a.sum(dim=1)
        return t, weights


class OcclusionPlan:
    """Perturbation p occludes one window of one input tensor (tensors in order)."""

    def __init__(self, grids: List[WindowGrid], baselines: Tuple[Tensor, ...],
                 device: torch.device) -> None:
        self.grids = grids
        self.baselines = baselines
        self.offsets = [0]
        for g in grids:
            self.offsets.append(self.offsets[-1] + g.n_windows)
        self.n_perturbations = self.offsets[-1]
        # Per tensor, computed once (small: P x r) rather than per chunk: whether perturbation
        # p occludes this tensor, and its window start. Windows of other tensors start past the
        # end, so they leave this tensor intact.
        f_all = torch.arange(self.n_perturbations, device=device)
        self.occludes: List[Tensor] = []
        self.starts: List[Optional[Tensor]] = []
        for i, g in enumerate(grids):
            f = f_all - self.offsets[i]
            inside = (f >= 0) & (f < g.n_windows)
            self.occludes.append(inside)
            if not g.counts:
                self.starts.append(None)
                continue
            starts = g.starts(f.clamp(min=0))
            starts[~inside] = torch.tensor(g.shape, dtype=starts.dtype, device=device)
            self.starts.append(starts)

    def build(self, inputs: Tuple[Tensor, ...], p0: int, p1: int) -> Tuple[Tensor, ...]:
        out = []
        for i, (x, g, b) in enumerate(zip(inputs, self.grids, self.baselines)):
            starts = self.starts[i]
            if starts is None:
                # (N,) input, one window = the whole scalar: no start coordinate can point
                # outside the tensor, so pick baseline or input per perturbation directly.
                occluded = self.occludes[i][p0:p1].reshape(-1, 1)
                k = occluded.shape[0]
                rows = torch.where(occluded, b.reshape(1, -1).to(x.dtype), x.reshape(1, -1))
                out.append(rows.expand(k, x.shape[0]).reshape(k * x.shape[0]))
                continue
            out.append(occlude_boxes(x, b, starts[p0:p1], g.window))
        return tuple(out)


def _per_input(value: Any, n_inputs: int, name: str) -> Tuple[Any, ...]:
    """A per-input argument: a tuple of per-input entries for tuple inputs, else wrapped."""
    if n_inputs == 1 and not (isinstance(value, tuple) and value and isinstance(value[0], tuple)):
        return (value,)
    if not isinstance(value, tuple) or len(value) != n_inputs:
        raise InputError(f"{name} must give one entry per input tensor ({n_inputs} inputs), got {value!r}")
    return value


class Occlusion(PerturbationAttribution):
    """Captum-compatible Occlusion on fastxai's batched engine (windows in 1D/2D/3D and
    across channels; any non-batch rank). Returns float32 attributions of the inputs'
    shapes, as Captum does.

    On conv nets it runs exact incremental inference by default (fastxai.engine.incremental:
    only the part of each feature map a window changes is recomputed); ``last_plan`` says
    after each call which path ran and why (e.g. why the normal full forward was used)."""

    last_plan: Optional[PlanSummary] = None

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        sliding_window_shapes: Union[Tuple[int, ...], Tuple[Tuple[int, ...], ...]],
        strides: Union[None, int, Tuple[int, ...], Tuple[Union[int, Tuple[int, ...]], ...]] = None,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        perturbations_per_eval: Optional[int] = None,
        show_progress: bool = False,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
        incremental: Union[bool, str] = "auto",
        incremental_tau: float = 1.0,
    ) -> TensorOrTuple:
        """Occlude every window position and record the output drop.

        Args:
            inputs: (N, *S) tensor or tuple of them.
            sliding_window_shapes: window per input, of rank len(S) (e.g. (3, 8, 8)).
            strides: int or per-dim tuple (per input for tuple inputs); default 1.
            baselines, target, additional_forward_args: as FeatureAblation.
            perturbations_per_eval: cap on windows per forward (None = auto).
            max_batch / max_memory: caps on rows / bytes per forward.
            incremental *(extra)*: "auto" recomputes only the changed regions of a traceable
                conv net's feature maps when that is exact and pays (``last_plan`` says
                whether it ran and why not); True requires it (``InputError`` with the
                reason otherwise); False always runs the full forward per window.
            incremental_tau *(extra)*: Krypton's projective-field threshold; 1 = exact,
                below 1 an opt-in approximation (see docs/incremental.md for its error).
        Returns:
            attributions mirroring ``inputs``, each (N, *S) float32 ((N, K, *S) for K targets).
        """
        check_mode(incremental, incremental_tau)
        call = prepare_call(
            self.forward_func, inputs, baselines, target, additional_forward_args,
            perturbations_per_eval, show_progress, max_batch, max_memory,
            f"{self.get_name()} attribution", captum_edge=True,
        )
        grids = self._grids(call.inputs, sliding_window_shapes, strides)
        plan = OcclusionPlan(grids, call.baselines, call.inputs[0].device)
        acc = DifferenceAccumulator(call.initial, plan.n_perturbations, output_dtype(call.initial))
        # --- incremental path (fastxai.engine.incremental); the normal plan when it does not apply
        windows = None
        if incremental is not False and len(call.inputs) == 1 and call.inputs[0].dim() >= 3:
            windows = WindowPerturbations(plan.starts[0], grids[0].window, call.inputs[0].shape[1:])
        self.last_plan = try_incremental(
            self.forward_func, call.inputs, call.baselines[0], windows, acc, call.target, call.args,
            call.initial, call.options, incremental, incremental_tau,
        )
        if self.last_plan.path == "full":
            run_perturbations(plan, acc, self.forward_func, call.inputs, call.target, call.args,
                              call.initial, call.options)
        attrs = []
        for i, g in enumerate(grids):
            sums, weights = g.spread(acc.table[:, plan.offsets[i] : plan.offsets[i + 1]])
            # Captum divides a float32 copy of the sums by float32 window counts.
            attrs.append(sums.float() / weights.float())
        return format_output(call.is_tuple, shape_outputs(call, tuple(attrs)))

    @staticmethod
    def _grids(inputs: Tuple[Tensor, ...], windows: Any, strides: Any) -> List[WindowGrid]:
        windows_t = _per_input(windows, len(inputs), "sliding_window_shapes")
        strides_t = (1,) * len(inputs) if strides is None else (
            (strides,) if len(inputs) == 1 and not (isinstance(strides, tuple) and strides and isinstance(strides[0], tuple))
            else strides
        )
        if not isinstance(strides_t, tuple) or len(strides_t) != len(inputs):
            raise InputError(f"strides must give one entry per input tensor, got {strides!r}")
        grids = []
        for i, (x, w, s) in enumerate(zip(inputs, windows_t, strides_t)):
            shape = list(x.shape[1:])
            w = tuple(w) if isinstance(w, (tuple, list)) else (w,)
            if len(w) != len(shape):
                raise InputError(
                    f"sliding_window_shapes[{i}] = {w} must have one entry per non-batch dim of "
                    f"input {i} (shape {tuple(x.shape)})"
                )
            s = (s,) * len(shape) if isinstance(s, int) else tuple(s)
            if len(s) != len(shape):
                raise InputError(f"strides[{i}] = {s} must be an int or have {len(shape)} entries")
            for d, (size, wd, sd) in enumerate(zip(shape, w, s)):
                if sd <= 0:
                    raise InputError(f"strides[{i}] must be > 0 in every dim; dim {d} has {sd}")
                if wd <= 0 or wd > size:
                    raise InputError(
                        f"sliding_window_shapes[{i}] dim {d} is {wd} but the input has size {size} "
                        "there; the window must lie within the input"
                    )
                # Captum's rule: where the window does not span the dim, a stride above the
                # window would leave elements that no window covers (their mean drop is 0/0).
                if wd < size and sd > wd:
                    raise InputError(
                        f"strides[{i}] dim {d} is {sd}, larger than the window ({wd}) in a dim "
                        f"the window does not span (size {size}); use a stride <= {wd}"
                    )
            grids.append(WindowGrid(shape, w, s))
        return grids
