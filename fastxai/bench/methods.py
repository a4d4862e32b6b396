"""Config method specs -> explainers ``(x (N, C, H, W), target (N,)) -> maps (N, H, W)``.

Every class of ``fastxai.attr`` is available by name. The bench adds:
* ``layer = "features.6"``: the layer of a layer / CAM method (a module path in the model);
  their (N, C', h, w) outputs are summed over C' and upsampled bilinearly to (H, W).
* ``feature_mask = "grid:8"`` (8 x 8 cells) or ``"slic:64"`` (scikit-image SLIC per image) for
  the feature-based perturbation / sampling methods (default ``grid:8`` for them).
* ``wraps`` / ``wraps_params``: NoiseTunnel's inner method and its constructor arguments.
* ``seed``: passed when the method takes one and the config does not set it (``run.seed``).
Maps are the attributions summed over channels (signed). AttentionRollout gives the class
token's rollout over the patches (no target). The trivial baselines ``baseline:centre``,
``baseline:random`` and ``baseline:edges`` (``fastxai.bench.baselines``) are always added.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastxai.bench import baselines

NOT_METHODS = {"Attribution", "GradientAttribution", "LayerAttribution", "PerturbationAttribution", "LimeBase",
               "Alpha1_Beta0_Rule", "EpsilonRule", "GammaRule", "IdentityRule", "PropagationRule"}
MASK_METHODS = {"FeatureAblation", "ShapleyValueSampling", "ShapleyValues", "KernelShap", "Lime"}
SET_BY_BENCH = {"inputs", "target", "additional_forward_args", "return_convergence_delta", "show_progress"}


def available_methods() -> List[str]:
    """Names of the attribution classes of ``fastxai.attr``."""
    import fastxai.attr as A

    return sorted(n for n in A.__all__ if n not in NOT_METHODS and inspect.isclass(getattr(A, n))
                  and hasattr(getattr(A, n), "attribute"))


def method_class(name: str) -> type:
    """The ``fastxai.attr`` class called ``name``."""
    import fastxai.attr as A

    return getattr(A, name)


def _takes_layer(cls: type) -> bool:
    params = list(inspect.signature(cls.__init__).parameters)
    return len(params) > 2 and params[2] == "layer"


def attribute_params(cls: type) -> List[str]:
    """Keyword names ``cls.attribute`` accepts (Captum's plus fastxai's extras)."""
    fn = getattr(cls.attribute, "__wrapped__", cls.attribute)
    return [p for p in inspect.signature(fn).parameters if p not in ("self", "args", "kwargs")]


def needs_layer(name: str) -> bool:
    """Whether the method is built on a layer (``layer =`` required)."""
    return name not in baselines.BASELINES and _takes_layer(method_class(name))


def resolve_layer(model: nn.Module, path: str) -> nn.Module:
    """The sub-module of ``model`` at ``path`` (KeyError with the known paths if absent)."""
    mods = dict(model.named_modules())
    if path not in mods:
        raise KeyError(path)
    return mods[path]


def grid_mask(h: int, w: int, cells: int, device: Any = None) -> Tensor:
    """(1, 1, H, W) int64 feature ids of a ``cells`` x ``cells`` grid."""
    ys = torch.arange(h, device=device) * cells // h
    xs = torch.arange(w, device=device) * cells // w
    return (ys[:, None] * cells + xs[None, :]).view(1, 1, h, w)


def feature_mask(spec: str, x: Tensor) -> Tensor:
    """``grid:K`` -> (1, 1, H, W); ``slic:K`` -> (N, 1, H, W) superpixels."""
    kind, _, n = spec.partition(":")
    if kind == "grid":
        return grid_mask(x.shape[-2], x.shape[-1], int(n or 8), x.device)
    from fastxai.attr import superpixel_mask

    return superpixel_mask(x, method=kind, n_segments=int(n or 64))


def to_map(a: Tensor, hw: Tuple[int, int]) -> Tensor:
    """Attributions (N, C, h, w) or (N, h, w) -> (N, H, W) float32 (channel sum, bilinear resize)."""
    if a.dim() == 3:
        a = a[:, None]
    a = a.sum(1, keepdim=True).float()
    if tuple(a.shape[-2:]) != tuple(hw):
        a = F.interpolate(a, size=tuple(hw), mode="bilinear", align_corners=False)
    return a[:, 0].detach()


class Explainer:
    """One configured method bound to one model. ``explainer(x, target, sample_ids) -> (N, H, W)``."""

    def __init__(self, spec: Any, model: nn.Module, seed: int = 0) -> None:
        self.spec, self.model, self.seed = spec, model, seed
        self.name = spec.name
        self.baseline = baselines.BASELINES.get(spec.name)
        if self.baseline is None:
            self.attr = self._build(spec.name, spec.init, spec.layer)
            self.kwargs = self._kwargs()

    def _build(self, name: str, init: Dict[str, Any], layer: str) -> Any:
        cls = method_class(name)
        if name == "NoiseTunnel":
            inner = self._build(self.spec.wraps, self.spec.wraps_params, layer)
            return cls(inner, **init)
        if _takes_layer(cls):
            return cls(self.model, resolve_layer(self.model, layer), **init)
        return cls(self.model, **init)

    def _kwargs(self) -> Dict[str, Any]:
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in self.spec.params.items()}
        names = attribute_params(type(self.attr))
        if self.name == "NoiseTunnel":
            names += attribute_params(method_class(self.spec.wraps))
        if "seed" in names and "seed" not in kw:
            kw["seed"] = self.seed
        return kw

    def mask_spec(self) -> Optional[str]:
        """The feature-mask spec used (``grid:8`` by default for the mask methods)."""
        inner = self.spec.wraps if self.name == "NoiseTunnel" else self.name
        return self.spec.feature_mask or ("grid:8" if inner in MASK_METHODS else None)

    def __call__(self, x: Tensor, target: Tensor, sample_ids: List[str]) -> Tensor:
        hw = (x.shape[-2], x.shape[-1])
        if self.baseline is not None:
            return self.baseline(x, sample_ids, self.seed)
        kw = dict(self.kwargs)
        spec = self.mask_spec()
        if spec:
            kw["feature_mask"] = feature_mask(spec, x)
        if self.name == "AttentionRollout":
            return self._rollout(x, hw, kw)
        if "target" in attribute_params(type(self.attr)) or self.name == "NoiseTunnel":
            kw["target"] = target
        out = self.attr.attribute(x, **kw)
        if isinstance(out, tuple):
            out = out[0]
        return to_map(out, hw)

    def _rollout(self, x: Tensor, hw: Tuple[int, int], kw: Dict[str, Any]) -> Tensor:
        result = self.attr.attribute(x, **kw)
        patch = getattr(self.model, "patch", None)
        t = result.shape[-1] - 1
        grid = (hw[0] // patch, hw[1] // patch) if patch else (int(t ** 0.5), int(t ** 0.5))
        return to_map(self.attr.token_map(result, grid), hw)


def method_specs(cfg: Any) -> List[Any]:
    """The configured methods plus the trivial baselines (always included, last)."""
    from fastxai.bench.config import MethodSection

    return list(cfg.methods) + [MethodSection(name=n) for n in baselines.BASELINES]


def explainer_factory(spec: Any, seed: int) -> Callable[[nn.Module], Explainer]:
    """``model -> Explainer`` (used by the randomisation check on copies of the model)."""
    return lambda model: Explainer(spec, model, seed)
