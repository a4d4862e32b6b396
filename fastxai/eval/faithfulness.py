"""Model-in-the-loop faithfulness (deletion / insertion) and attribution complexity.

Deletion / insertion (RISE, Petsiuk et al. 2018): pixels are ranked by attribution
(descending, ties by lowest flat index; ``order="least"`` gives LeRF), and ``step`` pixels
are removed (deletion: replaced by ``baseline``, default zeros) or inserted (insertion: start
from ``baseline``, default a Gaussian blur of the image) per step. The curve has
``ceil(P / step) + 1`` points (start included); its AUC is the trapezoid on [0, 1]:
``(Σ s - s_0 / 2 - s_end / 2) / (len - 1)``. All N x (S + 1) perturbed images go through the
model in chunks of at most ``max_batch`` images, built on the fly (memory ~ max_batch images).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F

from fastxai.eval.errors import InputError, check_count, check_finite, check_same_n

Baseline = Union[str, float, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]
Attributions = Union[torch.Tensor, Any, Callable[..., torch.Tensor]]
_FAITH_STREAM = 0x46434F52  # Philox stream id for faithfulness-correlation subsets


def resolve_attributions(attributions: Attributions, forward_func: Callable, inputs: torch.Tensor,
                         target: torch.Tensor) -> torch.Tensor:
    """A tensor as is; an object with ``.attribute`` (fastxai/Captum) is called as
    ``attribute(inputs, target=target)``; any other callable as a Quantus-style
    ``explain_func(model=forward_func, inputs=inputs, targets=target)``."""
    if isinstance(attributions, torch.Tensor):
        return attributions.detach()
    if hasattr(attributions, "attribute"):
        return attributions.attribute(inputs, target=target).detach()
    if callable(attributions):
        return torch.as_tensor(attributions(model=forward_func, inputs=inputs, targets=target)).detach()
    raise InputError("attributions must be a tensor, an attribution object with .attribute, or an explain_func")


def gaussian_blur(x: torch.Tensor, klen: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """Depthwise Gaussian blur (kernel klen x klen, zero padding klen // 2). x: (N, C, H, W).

    A normalised sampled Gaussian; RISE's ``gkern`` (scipy ``gaussian_filter`` of a delta) differs
    slightly at the kernel edge.
    """
    r = torch.arange(klen, dtype=x.dtype, device=x.device) - klen // 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k2 = torch.outer(g, g)
    k2 = (k2 / k2.sum()).expand(x.shape[1], 1, klen, klen)
    return F.conv2d(x, k2, padding=klen // 2, groups=x.shape[1])


def _substrate(x: torch.Tensor, baseline: Baseline) -> torch.Tensor:
    if isinstance(baseline, str):
        if baseline == "zeros":
            return torch.zeros_like(x)
        if baseline == "blur":
            return gaussian_blur(x)
        raise InputError(f"baseline must be 'zeros', 'blur', a number, a tensor or a callable, got {baseline!r}")
    if callable(baseline):
        return baseline(x)
    return torch.broadcast_to(torch.as_tensor(baseline, dtype=x.dtype, device=x.device), x.shape)


def pixel_attributions(forward_func: Callable, inputs: torch.Tensor, attributions: Attributions,
                       target: Optional[Union[int, torch.Tensor]]) -> "tuple[torch.Tensor, torch.Tensor]":
    """Checked per-pixel attributions for a model-in-the-loop metric on images.

    inputs (N, C, H, W); attributions as :func:`resolve_attributions` takes them, (N, C, H, W)
    summed over channels. Returns (target (N,), attributions (N, H, W)).
    """
    if inputs.dim() != 4:
        raise InputError(f"inputs must be (N, C, H, W), got {tuple(inputs.shape)}")
    target = _targets(forward_func, inputs, target)
    a = resolve_attributions(attributions, forward_func, inputs, target)
    if a.dim() == 4:
        a = a.sum(1)
    check_same_n(inputs=inputs, attributions=a)
    if tuple(a.shape[1:]) != tuple(inputs.shape[2:]):
        raise InputError(f"attributions spatial size {tuple(a.shape[1:])} != inputs {tuple(inputs.shape[2:])}")
    check_finite("attributions", a)
    return target, a


def _targets(forward_func: Callable, inputs: torch.Tensor, target: Optional[Union[int, torch.Tensor]]) -> torch.Tensor:
    """(N,) int64 targets: given (int or (N,)) or the top-1 class on the original inputs (RISE)."""
    n = inputs.shape[0]
    if target is None:
        with torch.no_grad():
            return forward_func(inputs).argmax(1)
    t = torch.as_tensor(target, device=inputs.device)
    return t.expand(n) if t.dim() == 0 else t


def pixel_ranks(attributions: torch.Tensor, order: str = "most") -> torch.Tensor:
    """Rank of each pixel (0 = removed first). attributions (N, H, W) -> (N, H*W) int64.

    ``most``: descending attribution, ties by lowest index; ``least``: ascending, ties by lowest index.
    """
    a = attributions.reshape(attributions.shape[0], math.prod(attributions.shape[1:]))
    if order not in ("most", "least"):
        raise InputError(f"order must be most|least, got {order!r}")
    idx = torch.sort(a, dim=1, descending=(order == "most"), stable=True).indices
    ranks = torch.empty_like(idx)
    ranks.scatter_(1, idx, torch.arange(a.shape[1], device=a.device).expand_as(idx).contiguous())
    return ranks


def deletion_curve(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attributions: Attributions,
    *,
    target: Optional[Union[int, torch.Tensor]] = None,
    mode: str = "deletion",
    order: str = "most",
    step: int = 224,
    baseline: Optional[Baseline] = None,
    max_batch: int = 256,
) -> torch.Tensor:
    """Model score along the deletion (or insertion) path.

    Args:
        forward_func: model, (B, C, H, W) -> (B, K) scores (wrap with softmax for probabilities).
        inputs: (N, C, H, W). attributions: (N, H, W) or (N, C, H, W) (summed over C), or an
            attribution object / explain_func (see ``resolve_attributions``).
        target: class per example (int or (N,)); default: top-1 class on the original input (RISE).
        mode: ``deletion`` (default baseline zeros) or ``insertion`` (default baseline: blur).
        step: pixels per step. max_batch: images per forward chunk.
    Returns:
        (N, S + 1) scores, S = ceil(H*W / step).
    """
    if mode not in ("deletion", "insertion"):
        raise InputError(f"mode must be deletion|insertion, got {mode!r}")
    check_count("step", step)
    check_count("max_batch", max_batch)
    target, a = pixel_attributions(forward_func, inputs, attributions, target)
    n, c, h, w = inputs.shape
    p = h * w
    n_steps = math.ceil(p / step)
    sub = _substrate(inputs, baseline if baseline is not None else ("zeros" if mode == "deletion" else "blur"))
    ranks = pixel_ranks(a, order).reshape(n, 1, h, w)
    start, end = (inputs, sub) if mode == "deletion" else (sub, inputs)
    tgt = target
    with torch.no_grad():
        total = n * (n_steps + 1)
        scores = torch.empty(total, dtype=torch.float64)
        for lo in range(0, total, max_batch):
            flat = torch.arange(lo, min(lo + max_batch, total), device=inputs.device)
            ex, k = flat // (n_steps + 1), flat % (n_steps + 1)
            changed = ranks[ex] < (k * step).view(-1, 1, 1, 1)  # (b, 1, H, W)
            imgs = torch.where(changed, end[ex], start[ex])
            out = forward_func(imgs)
            scores[lo:lo + flat.numel()] = out.gather(1, tgt[ex].view(-1, 1))[:, 0].to(torch.float64).cpu()
    return scores.view(n, n_steps + 1)


def curve_auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoid AUC on [0, 1] of (N, S + 1) curves -> (N,)."""
    s = curve.to(torch.float64)
    return (s.sum(1) - s[:, 0] / 2 - s[:, -1] / 2) / (s.shape[1] - 1)


def deletion_auc(forward_func: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                 attributions: Attributions, **kwargs: Any) -> torch.Tensor:
    """AUC of ``deletion_curve`` (lower is better). (N,)."""
    return curve_auc(deletion_curve(forward_func, inputs, attributions, mode="deletion", **kwargs))


def insertion_auc(forward_func: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  attributions: Attributions, **kwargs: Any) -> torch.Tensor:
    """AUC of the insertion curve (higher is better). (N,)."""
    return curve_auc(deletion_curve(forward_func, inputs, attributions, mode="insertion", **kwargs))


def faithfulness_correlation(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attributions: Attributions,
    *,
    target: Optional[Union[int, torch.Tensor]] = None,
    n_runs: int = 100,
    subset_size: int = 224,
    baseline: Union[float, torch.Tensor] = 0.0,
    seed: int = 0,
    max_batch: int = 256,
) -> torch.Tensor:
    """Faithfulness correlation (Bhatt et al. 2020; Quantus ``FaithfulnessCorrelation``).

    For each example and run r, a random subset of ``subset_size`` pixels (all channels) is set to
    ``baseline``; the score is the Pearson correlation over runs between Σ attribution over the
    subset and f(x)[t] - f(x_perturbed)[t]. Subsets are the ``subset_size`` smallest Philox
    uniforms U(seed; pixel, run, example, stream), so they do not depend on batching (not Quantus'
    numpy draws). Forward passes run in chunks of ``max_batch`` images.

    Args:
        inputs: (N, C, H, W). attributions: (N, [C,] H, W) (summed over C) or attribution object / explain_func.
    Returns:
        (N,) float64.
    """
    from fastxai.ops.philox import reference_philox_uniform

    check_count("n_runs", n_runs, 2)  # a correlation over runs needs two of them
    check_count("max_batch", max_batch)
    target = _targets(forward_func, inputs, target)
    a = resolve_attributions(attributions, forward_func, inputs, target)
    a = a.sum(1) if a.dim() == 4 else a
    check_same_n(inputs=inputs, attributions=a)
    check_finite("attributions", a)
    n, c, h, w = inputs.shape
    p = h * w
    if not 1 <= subset_size <= p:
        raise InputError(f"subset_size must be in [1, {p}], got {subset_size}")
    af = a.reshape(n, p).to(torch.float64)
    flat_idx = torch.arange(n * n_runs)
    ex, run = flat_idx // n_runs, flat_idx % n_runs
    diffs = torch.empty(n * n_runs, dtype=torch.float64)
    sums = torch.empty(n * n_runs, dtype=torch.float64)
    with torch.no_grad():
        base_out = forward_func(inputs).gather(1, target.view(-1, 1))[:, 0].to(torch.float64).cpu()
        for lo in range(0, n * n_runs, max_batch):
            e, r = ex[lo:lo + max_batch], run[lo:lo + max_batch]
            u = reference_philox_uniform(seed, torch.arange(p)[None, :], r[:, None], e[:, None], _FAITH_STREAM)
            subset = torch.zeros(e.numel(), p, dtype=torch.bool)
            subset.scatter_(1, torch.topk(u, subset_size, dim=1, largest=False).indices, True)
            x = inputs[e.to(inputs.device)]
            sub = subset.view(-1, 1, h, w).to(inputs.device)
            xp = torch.where(sub, torch.as_tensor(baseline, dtype=x.dtype, device=x.device), x)
            out = forward_func(xp).gather(1, target[e.to(target.device)].view(-1, 1))[:, 0].to(torch.float64).cpu()
            diffs[lo:lo + e.numel()] = base_out[e] - out
            sums[lo:lo + e.numel()] = (af[e] * subset).sum(1)
    d, s = diffs.view(n, n_runs), sums.view(n, n_runs)
    d, s = d - d.mean(1, keepdim=True), s - s.mean(1, keepdim=True)
    return (d * s).sum(1) / (d.norm(dim=1) * s.norm(dim=1))


def _flat_abs(attributions: torch.Tensor, quantus_compat: bool) -> torch.Tensor:
    a = attributions.detach().reshape(attributions.shape[0], math.prod(attributions.shape[1:])).to(torch.float64)
    check_finite("attributions", a)
    if quantus_compat and bool((a != 0).any()):
        a = a / a.abs().amax()
    return a.abs()


def sparseness(attributions: torch.Tensor, *, quantus_compat: bool = False) -> torch.Tensor:
    """Gini index of |a| (Chalasani et al. 2020; Quantus ``Sparseness``, +1e-7 as Quantus). (N, ...) -> (N,)."""
    a = torch.sort(_flat_abs(attributions, quantus_compat) + 1e-7, dim=1).values
    n = a.shape[1]
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return ((2 * i - n - 1) * a).sum(1) / (n * a.sum(1))


def complexity(attributions: torch.Tensor, *, quantus_compat: bool = False) -> torch.Tensor:
    """Entropy of the fractional contribution |a| / Σ|a| (Bhatt et al. 2020; Quantus ``Complexity``). (N,)."""
    a = _flat_abs(attributions, quantus_compat)
    frac = a / a.sum(1, keepdim=True)
    return -(frac * torch.log(frac + 1e-12)).sum(1)
