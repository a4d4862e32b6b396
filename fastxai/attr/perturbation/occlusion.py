"""Occlusion: slide a window of baseline values over each input; an element's attribution is
the mean output drop over the windows that cover it (an
:class:`~fastxai.engine.plans.OcclusionPlan`, a :class:`~fastxai.engine.reducers.DifferenceReducer`
and the windows' fixed-order spread back onto the elements)."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from torch import Tensor

from fastxai._captum.attribution import log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.errors import InputError
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.attr.perturbation.feature_ablation import FeatureAblation
from fastxai.engine.incremental.adapter import check_mode, occlusion_windows, run_call_incremental
from fastxai.engine.perturb import initial_for
from fastxai.engine.plans import OcclusionPlan, WindowGrid
from fastxai.engine.reducers import DifferenceReducer, output_dtype
from fastxai.engine.targets import TargetType


def _per_input(value: Any, n_inputs: int, name: str) -> Tuple[Any, ...]:
    """A per-input argument: a tuple of per-input entries for tuple inputs, else wrapped."""
    if n_inputs == 1 and not (isinstance(value, tuple) and value and isinstance(value[0], tuple)):
        return (value,)
    if not isinstance(value, tuple) or len(value) != n_inputs:
        raise InputError(f"{name} must give one entry per input tensor ({n_inputs} inputs), got {value!r}")
    return value


class Occlusion(FeatureAblation):
    """Captum-compatible Occlusion on fastxai's batched engine (windows in 1D/2D/3D and
    across channels; any non-batch rank). Returns float32 attributions of the inputs'
    shapes, as Captum does. A :class:`FeatureAblation`, as in Captum.

    On conv nets it runs exact incremental inference by default (fastxai.engine.incremental:
    only the part of each feature map a window changes is recomputed); ``last_plan`` says
    after each call which path ran and why (e.g. why the normal full forward was used)."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        FeatureAblation.__init__(self, forward_func)
        self.use_weights = True

    @log_usage
    def attribute(  # type: ignore[override]
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
        call = normalize_call(
            inputs, baselines=baselines, target=target, additional_forward_args=additional_forward_args,
            perturbations_per_eval=perturbations_per_eval, max_batch=max_batch,
            max_memory=max_memory, show_progress=show_progress,
            desc=f"{self.get_name()} attribution", sparse_inputs=True, broadcast_baselines=True,
        )
        grids = self._grids(call.inputs, sliding_window_shapes, strides)
        initial = initial_for(self.forward_func, call)
        plan = OcclusionPlan(grids, call.baselines, call.device)
        diff = DifferenceReducer(initial, plan.n_perturbations, output_dtype(initial))
        self.last_plan = run_call_incremental(self.forward_func, call, plan, diff, initial,
                                              lambda: occlusion_windows(call, plan), incremental, incremental_tau)
        attrs = []
        for i, g in enumerate(grids):
            sums, weights = g.spread(diff.table[:, plan.offsets[i] : plan.offsets[i + 1]])
            # Captum divides a float32 copy of the sums by float32 window counts.
            attrs.append(sums.float() / weights.float())
        return format_result(call, attrs)

    def attribute_future(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Not available for Occlusion, as in Captum."""
        raise NotImplementedError("attribute_future is not implemented for Occlusion")

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
