"""Method cards (after Saliency Cards, Boggust et al. 2023): for each method in the run, what it
computes, its parameters (from the run's config), determinism, its cost per image measured in
this run, and its known failure modes. The descriptions are data (``CARDS``), keyed by the
``fastxai.attr`` class name; the trivial baselines have cards too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# name -> (family, what it computes, determinism, known failure modes)
CARDS: Dict[str, Tuple[str, str, str, str]] = {
    "Occlusion": ("perturbation", "Output drop when a sliding window is replaced by a baseline; each pixel gets the "
                  "mean over the windows covering it.", "deterministic",
                  "Window size sets the resolution; misses features that matter only jointly; baseline choice "
                  "(zeros) can itself be out of distribution."),
    "FeatureAblation": ("perturbation", "Output drop when each feature group (e.g. superpixel or grid cell) is set "
                        "to a baseline.", "deterministic",
                        "Only as fine as the feature mask; ignores interactions; out-of-distribution baselines."),
    "RISE": ("perturbation", "Mean of the output over random low-resolution masks, weighted by each mask "
             "(Petsiuk et al. 2018).", "seeded (Philox): bit-identical with a seed",
             "Noisy with few masks; blurry at fine scales; favours large regions."),
    "FeaturePermutation": ("perturbation", "Output change when a feature is shuffled across the batch.",
                           "random unless seeded", "Needs a batch of varied inputs; meaningless for batch size 1."),
    "ShapleyValueSampling": ("sampling", "Shapley values of feature groups from random permutations.",
                             "random unless seeded", "Cost grows with the number of features; variance with few samples."),
    "KernelShap": ("sampling", "Weighted linear surrogate on random coalitions of feature groups (Lundberg & Lee 2017).",
                   "random unless seeded", "Unstable with too few samples; assumes feature independence."),
    "Lime": ("sampling", "Local linear surrogate on random coalitions of superpixels (Ribeiro et al. 2016).",
             "random unless seeded", "Results vary with the kernel width and segmentation; unstable across runs."),
    "Saliency": ("gradient", "Absolute gradient of the output with respect to the input.", "deterministic",
                 "Noisy; saturation hides important features; fails randomisation checks less often than "
                 "Guided Backprop but is local only."),
    "InputXGradient": ("gradient", "Input times gradient.", "deterministic",
                       "Zero wherever the input is zero; inherits gradient noise."),
    "IntegratedGradients": ("gradient", "Gradients integrated along a straight path from a baseline "
                            "(Sundararajan et al. 2017); completeness holds up to the convergence delta.",
                            "deterministic", "Baseline choice changes the answer (black baseline ignores black "
                            "pixels); too few steps break completeness."),
    "GradientShap": ("gradient", "Expected gradients over random baselines and noise.", "random unless seeded",
                     "Depends on the baseline distribution; noisy with few samples."),
    "NoiseTunnel": ("gradient", "A method averaged over noisy copies of the input (SmoothGrad).",
                    "random unless seeded", "Noise level is a free parameter; smooths real detail away."),
    "DeepLift": ("relevance", "Contributions relative to a reference via modified backward rules (Shrikumar et al. "
                 "2017).", "deterministic", "Reference-dependent; rules differ from Captum's only where documented."),
    "GuidedBackprop": ("gradient", "Gradient with negative backward signals zeroed at ReLUs.", "deterministic",
                       "Largely independent of the model's parameters: fails the randomisation sanity check "
                       "(Adebayo et al. 2018); looks like edge detection."),
    "Deconvolution": ("gradient", "Backward pass with ReLU applied to the backward signal.", "deterministic",
                      "Like Guided Backprop: insensitive to the model, fails sanity checks."),
    "LRP": ("relevance", "Layer-wise relevance propagation with per-layer rules.", "deterministic",
            "Rule choice changes the map; some rules are model-insensitive."),
    "LayerGradCam": ("CAM", "Gradient-weighted sum of a convolutional layer's activations, upsampled (Grad-CAM).",
                     "deterministic", "Coarse (the layer's resolution); can miss small findings; class-discriminative "
                     "only at the last conv layer."),
    "GradCAMPlusPlus": ("CAM", "Grad-CAM with higher-order weights for several instances.", "deterministic",
                        "Coarse; numerically fragile with tiny gradients."),
    "ScoreCAM": ("CAM", "Activation maps weighted by the output change they cause.", "deterministic",
                 "Coarse; slow (one forward per channel)."),
    "EigenCAM": ("CAM", "First principal component of a layer's activations.", "deterministic",
                 "Not class-specific."),
    "AttentionRollout": ("attention", "Product of attention matrices across layers (Abnar & Zuidema 2020).",
                         "deterministic", "Attention is not explanation: ignores value vectors and MLPs."),
    "baseline:centre": ("trivial baseline", "A Gaussian centred on the image, the same for every image (the centre "
                        "prior).", "deterministic", "Uses no information about the model or the image: a method "
                        "that does not beat it shows nothing about the model."),
    "baseline:random": ("trivial baseline", "Uniform random noise.", "seeded",
                        "Chance level for every localisation metric."),
    "baseline:edges": ("trivial baseline", "An edge detector on the image (Sobel magnitude), independent of the "
                       "model.", "deterministic", "Shows image structure, not the model: gradient maps that look "
                       "like it may be edge detectors too."),
}


@dataclass
class MethodCard:
    """One card, ready for the template."""

    name: str
    family: str
    computes: str
    determinism: str
    failure_modes: str
    parameters: Dict[str, str] = field(default_factory=dict)
    cost: str = "not measured"


def _config_entry(config: Dict[str, Any], name: str) -> Dict[str, Any]:
    methods = config.get("methods") if isinstance(config, dict) else None
    if isinstance(methods, dict):
        entry = methods.get(name)
        return entry if isinstance(entry, dict) else {}
    for m in methods or []:
        if isinstance(m, dict) and name in (m.get("name"), m.get("label"), m.get("id")):
            return m
    return {}


def _lookup(name: str, entry: Dict[str, Any]) -> Optional[Tuple[str, str, str, str]]:
    keys = [str(entry.get(k)) for k in ("class", "name", "method", "type", "attr") if entry.get(k)] + [name]
    lower = {k.lower(): v for k, v in CARDS.items()}
    for k in keys:
        if k in CARDS:
            return CARDS[k]
        if k.lower() in lower:
            return lower[k.lower()]
        base = k.split("(")[0].split(" ")[0].split(":")[-1] if not k.startswith("baseline:") else k
        if base.lower() in lower:
            return lower[base.lower()]
    return None


def method_cards(methods: List[str], config: Dict[str, Any], timings: Any, model: Optional[str] = None) -> List[MethodCard]:
    """A card per method (baselines included), parameters from the config, cost from timings."""
    cards = []
    for name in methods:
        entry = _config_entry(config, name)
        info = _lookup(name, entry) or ("unknown", "No card for this method yet.", "unknown", "unknown")
        params = dict(entry.get("params") or entry.get("parameters") or {})
        for k in ("init", "layer", "feature_mask", "wraps", "wraps_params"):
            if entry.get(k):
                params[k] = entry[k]
        if entry.get("name") and entry.get("name") != name:
            params = {"class": entry["name"], **params}
        card = MethodCard(name, *info, parameters={str(k): str(v) for k, v in params.items()})
        card.cost = _cost(timings, name, model)
        cards.append(card)
    return cards


def _cost(timings: Any, method: str, model: Optional[str]) -> str:
    if timings is None or not len(timings):
        return "not measured"
    t = timings[timings["method"] == method]
    if model is not None:
        t = t[t["model"] == model]
    parts = []
    for stage, g in t.groupby("stage", sort=False):
        n = float(g["n_samples"].sum())
        if n > 0:
            parts.append(f"{stage} {1e3 * float(g['seconds'].sum()) / n:.1f} ms")
    return (", ".join(parts) + " per image (this run)") if parts else "not measured"


def timing_rows(timings: Any, model: str) -> List[Dict[str, Any]]:
    """Per method × stage: seconds per image, floor per image, overhead share (engine vs floor)."""
    if timings is None or not len(timings):
        return []
    t = timings[timings["model"] == model]
    out = []
    for (meth, stage), g in t.groupby(["method", "stage"], sort=False):
        n = float(g["n_samples"].sum())
        if n <= 0:
            continue
        sec = float(g["seconds"].sum()) / n
        floor = float(g["floor_seconds"].sum()) / n if "floor_seconds" in g and g["floor_seconds"].notna().any() else np.nan
        over = (sec - floor) / sec if np.isfinite(floor) and sec > 0 else np.nan
        out.append({"method": str(meth), "stage": str(stage), "per_image": sec, "floor_per_image": floor,
                    "overhead": over, "n": int(n)})
    return out
