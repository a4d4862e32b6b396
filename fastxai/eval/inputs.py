"""Input rules for localisation metrics, applied once and in this order.

1. channel reduction: attributions (N, C, H, W) [(N, C, D, H, W) for volumes] are reduced
   over C by ``channel_reduction`` (default ``"sum"``; also ``mean``, ``max``, ``abs_sum``,
   ``l2``); (N, H, W) [(N, D, H, W)] pass through.
2. resize: maps of another size than the annotation are resized bilinearly (trilinearly for
   volumes) with ``align_corners=False``.
3. ``quantus_compat=True`` only: divide by max |a| over the batch given to the call (Quantus'
   dataset-wide ``normalise_by_max``; equal to Quantus when the whole dataset is one batch;
   an all-zero batch is left unchanged).
4. sign: ``"signed"`` (as is), ``"abs"``, ``"positive"`` (max(a, 0)).

Annotations: boxes (rasterised by ``fastxai.eval.boxes``) and/or binary masks (N, H, W) or
(N, 1, H, W); when both are given their union is used.
"""
from __future__ import annotations

import inspect
import math
import numbers
import warnings
from typing import Any, Callable, Dict, Literal, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from fastxai.eval.boxes import Boxes, boxes_to_mask
from fastxai.eval.errors import InputError, check_finite, check_same_n

ChannelReduction = Literal["sum", "mean", "max", "abs_sum", "l2"]
INPUT_DEFAULTS = {"image_size": None, "channel_reduction": "sum", "sign": "signed", "quantus_compat": False}


def streaming_options(fn: Callable[..., Any], options: Dict[str, Any], extra: Optional[Dict[str, Any]] = None,
                      ) -> Dict[str, Any]:
    """The full settings of a streaming localisation metric: ``options`` over the defaults of ``fn``'s
    keyword-only arguments, ``extra`` and the input rules (``INPUT_DEFAULTS``).

    Raises ``InputError`` for an unknown option, and for ``quantus_compat=True``: it divides by the
    maximum over the batch of each call, so a streamed mean would depend on how the data are batched.
    """
    defaults = dict(INPUT_DEFAULTS)
    for prm in inspect.signature(fn).parameters.values():
        if prm.kind is inspect.Parameter.KEYWORD_ONLY:
            defaults[prm.name] = prm.default
    defaults.update(extra or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise InputError(f"unknown option(s) {unknown} for {fn.__name__}; known: {sorted(defaults)}")
    if options.get("quantus_compat"):
        raise InputError("quantus_compat=True divides by the maximum over the batch of each call, so a streamed "
                         f"mean would depend on the batching; call {fn.__name__}(..., quantus_compat=True) on the "
                         "whole dataset instead")
    return {**defaults, **options}


class EmptyAnnotationWarning(UserWarning):
    """Some samples have an empty annotation (no pixel inside their boxes / mask): their scores are NaN."""


def warn_empty(m: torch.Tensor) -> None:
    """One warning per call naming the samples whose flat (N, P) annotation is empty."""
    if m.numel() == 0:
        empty = torch.zeros(m.shape[0], dtype=torch.bool)
    elif m.dtype == torch.bool and m.is_contiguous():
        empty = m.view(torch.uint8).amax(1) == 0  # a byte max is ~20x faster than bool any()
    else:
        empty = ~m.any(1)
    warn_empty_rows(empty)


def warn_empty_rows(empty: torch.Tensor) -> None:
    """``warn_empty`` from a precomputed (N,) bool "annotation is empty" vector."""
    if empty.numel() and bool(empty.any()):
        idx = torch.nonzero(empty).flatten()
        warnings.warn(
            f"empty annotation for {idx.numel()} of {empty.shape[0]} samples {idx[:10].tolist()}"
            f"{' ...' if idx.numel() > 10 else ''}: their localisation scores are NaN (no ground truth; "
            "Quantus' PointingGame would return 1.0). IoU/Dice: 0 for a non-empty prediction unless true_pos_only.",
            EmptyAnnotationWarning, stacklevel=5)
Sign = Literal["signed", "abs", "positive"]


def reduce_channels(a: torch.Tensor, rule: str) -> torch.Tensor:
    """Reduce dim 1 of ``a`` (N, C, ...) by ``rule``."""
    if rule == "sum":
        return a.sum(1)
    if rule == "mean":
        return a.mean(1)
    if rule == "max":
        return a.amax(1)
    if rule == "abs_sum":
        return a.abs().sum(1)
    if rule == "l2":
        return a.pow(2).sum(1).sqrt()
    raise InputError(f"channel_reduction must be sum|mean|max|abs_sum|l2, got {rule!r}")


def _reduce_wide(a: torch.Tensor, rule: str) -> torch.Tensor:
    """The channel reduction in float64 with the forms that cannot overflow when the result fits:
    mean as Σ(a / C), l2 as m·sqrt(Σ(a / m)²) with m = max |a| over the channels."""
    a = a.to(torch.float64)
    if rule == "mean":
        return (a / a.shape[1]).sum(1)
    if rule == "l2":
        m = a.abs().amax(1, keepdim=True)
        ms = torch.where(m > 0, m, torch.ones_like(m))
        return (a / ms).pow(2).sum(1).sqrt() * ms[:, 0]
    return reduce_channels(a, rule)


def _without_overflow(fn: Callable[[torch.Tensor], torch.Tensor], a: torch.Tensor, name: str, step: str,
                      wide: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """``fn(a)``, redone in float64 for the samples whose result overflowed although their input is
    finite (e.g. a float32 channel sum near the float32 maximum): finite input never turns non-finite
    here. One float64 row-sum pass over the result detects it; samples that overflow float64 itself
    raise ``InputError`` naming them (their true value is not representable)."""
    out = fn(a)
    if out.numel() == 0 or not out.is_floating_point():
        return out
    n = out.shape[0]
    suspect = ~torch.isfinite(out.reshape(n, -1).sum(1, dtype=torch.float64))
    if not bool(suspect.any()):
        return out
    rows = torch.nonzero(suspect).flatten()
    fix = rows[~torch.isfinite(out[rows].reshape(rows.numel(), -1)).all(1)
               & torch.isfinite(a[rows].reshape(rows.numel(), -1)).all(1)]
    if fix.numel() == 0:
        return out  # non-finite input: reported by the NaN/Inf check
    again = (wide or fn)(a[fix].to(torch.float64))
    if not bool(torch.isfinite(again).all()):
        raise InputError(f"{name}: the {step} of samples {fix[:10].tolist()} exceeds the float64 range; "
                         "scale the maps down (the localisation metrics are scale-invariant)")
    out = out.to(torch.float64)
    out[fix] = again
    return out


def apply_sign(a: torch.Tensor, sign: str) -> torch.Tensor:
    """``signed`` (identity), ``abs`` or ``positive`` (clamp at 0)."""
    if sign == "signed":
        return a
    if sign == "abs":
        return a.abs()
    if sign == "positive":
        return a.clamp(min=0)
    raise InputError(f"sign must be signed|abs|positive, got {sign!r}")


def to_heatmaps(
    attributions: torch.Tensor,
    spatial: Sequence[int],
    *,
    channel_reduction: str = "sum",
    sign: str = "signed",
    quantus_compat: bool = False,
    name: str = "heatmaps",
    check: bool = True,
) -> torch.Tensor:
    """Apply the input rules; returns float (N, *spatial) heat maps (see module docstring).

    ``check=False`` skips the NaN/Inf scan (for callers whose fused kernel counts non-finite values).
    """
    spatial = tuple(int(s) for s in spatial)
    a = attributions.detach()
    if not a.is_floating_point():
        a = a.to(torch.float32)
    nd = len(spatial)
    if a.dim() == nd + 2:
        a = _without_overflow(lambda t: reduce_channels(t, channel_reduction), a, name, "channel_reduction",
                              lambda t: _reduce_wide(t, channel_reduction))
    elif a.dim() != nd + 1:
        raise InputError(
            f"{name} must be (N, {'D, ' if nd == 3 else ''}H, W) or with a channel dim at 1, "
            f"got shape {tuple(a.shape)} for annotations of size {spatial}"
        )
    if check:
        check_finite(name, a)
    if tuple(a.shape[1:]) != spatial:
        mode = "bilinear" if nd == 2 else "trilinear"
        a = _without_overflow(lambda t: F.interpolate(t[:, None], size=spatial, mode=mode, align_corners=False)[:, 0],
                              a, name, "resize")
    if quantus_compat and a.numel() and bool((a != 0).any()):
        a = a / a.abs().amax()
    return apply_sign(a, sign)


def image_size_tuple(image_size: Union[int, Sequence[int], None], heatmaps: Optional[torch.Tensor] = None,
                     ) -> Optional[Tuple[int, ...]]:
    """``image_size`` as (H, W) or (D, H, W) positive ints; an int s means (s, s) — (s, s, s) for
    (N, C, D, H, W) heat maps — and volumes without a channel dim pass a 3-tuple."""
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        nd = 3 if heatmaps is not None and heatmaps.dim() == 5 else 2
        image_size = (int(image_size),) * nd
    try:
        size = tuple(int(s) for s in image_size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"image_size must be an int or (H, W) / (D, H, W) ints, got {image_size!r}") from None
    if len(size) not in (2, 3) or min(size) < 1:
        raise InputError(f"image_size must be an int or (H, W) / (D, H, W) positive ints, got {image_size!r}")
    return size


def _masks_tensor(masks: torch.Tensor, image_size: Optional[Sequence[int]]) -> torch.Tensor:
    m = torch.as_tensor(masks)
    volume = image_size is not None and len(image_size) == 3
    if m.dim() == 4 and m.shape[1] == 1 and not volume:  # Quantus' (N, 1, H, W) s_batch
        m = m[:, 0]
    elif m.dim() == 5 and m.shape[1] == 1:
        m = m[:, 0]
    if m.dim() not in (3, 4):
        raise InputError(f"masks must be (N, H, W), (N, 1, H, W) or (N, D, H, W), got {tuple(m.shape)}")
    if m.dtype != torch.bool:
        if bool(((m != 0) & (m != 1)).any()):
            raise InputError("masks must be binary (bool or values in {0, 1})")
        m = m != 0
    return m


def spatial_shape(
    heatmaps: torch.Tensor, masks: Optional[torch.Tensor], image_size: Optional[Sequence[int]]
) -> Tuple[int, ...]:
    """Annotation size: from ``masks``, else ``image_size``, else the heat maps.

    Heat maps alone are read as (N, H, W), (N, C, H, W) or (N, C, D, H, W); for (N, D, H, W)
    volumes without masks pass ``image_size=(D, H, W)``.
    """
    if masks is not None:
        return tuple(masks.shape[1:])
    size = image_size_tuple(image_size, heatmaps)
    if size is not None:
        return size
    if heatmaps.dim() == 3:
        return tuple(heatmaps.shape[1:])
    if heatmaps.dim() in (4, 5):
        return tuple(heatmaps.shape[2:])
    raise InputError(f"heatmaps must be (N, H, W), (N, C, H, W) or (N, C, D, H, W), got {tuple(heatmaps.shape)}")


def prepare(
    heatmaps: torch.Tensor,
    boxes: Optional[Boxes] = None,
    masks: Optional[torch.Tensor] = None,
    *,
    image_size: Optional[Sequence[int]] = None,
    channel_reduction: str = "sum",
    sign: str = "signed",
    quantus_compat: bool = False,
    check: bool = True,
    fused: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor, Tuple[int, ...]]:
    """Heat maps and annotations as flat (N, P) float / bool tensors plus the spatial shape.

    Args:
        heatmaps: (N, H, W), (N, C, H, W), (N, D, H, W) or (N, C, D, H, W).
        boxes: (N, 4) / (N, B, 4) / list of (B_i, 4); 6 coordinates for volumes.
        masks: (N, H, W), (N, 1, H, W) or (N, D, H, W) binary.
        image_size: (H, W), (D, H, W) or an int (square / cube) when only boxes are given and maps
            are smaller (boxes are in the image's pixel frame).
        check: scan heat maps for NaN/Inf here (False when the caller's fused kernel does it).
        fused: the caller's fused kernel applies ``sign``, counts non-finite values and the mask
            pixels (it warns about empty annotations itself): skip those steps here (no copies).
    Returns:
        h (N, P) float, m (N, P) bool, spatial shape.
    """
    if boxes is None and masks is None:
        raise InputError("give boxes= and/or masks= (the annotation to score against)")
    image_size = image_size_tuple(image_size, heatmaps)
    m = _masks_tensor(masks, image_size) if masks is not None else None
    spatial = spatial_shape(heatmaps, m, image_size)
    if boxes is not None:
        bm = boxes_to_mask(boxes, spatial)
        m = bm if m is None else (m | bm.to(m.device))
    check_same_n(heatmaps=heatmaps, annotations=m)
    h = to_heatmaps(heatmaps, spatial, channel_reduction=channel_reduction,
                    sign="signed" if fused else sign, quantus_compat=quantus_compat, check=check and not fused)
    if fused:
        apply_sign(h[:0], sign)  # validates the name
    n, p = h.shape[0], math.prod(spatial)
    m = m.reshape(n, p).to(h.device)
    if not fused:
        warn_empty(m)
    return h.reshape(n, p), m, spatial
