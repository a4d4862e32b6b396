"""Captum-compatible attribution methods: ``from fastxai.attr import IntegratedGradients``.

* perturbation: FeatureAblation, Occlusion, FeaturePermutation, RISE
* sampling: ShapleyValueSampling, ShapleyValues, KernelShap, Lime, LimeBase (+ superpixel_mask)
* gradient / activation / relevance / attention: Saliency, InputXGradient, IntegratedGradients,
  GradientShap, NoiseTunnel, DeepLift, DeepLiftShap, GuidedBackprop, Deconvolution, LRP,
  LayerGradCam, GuidedGradCam, Layer*, GradCAMPlusPlus, XGradCAM, EigenCAM, ScoreCAM,
  AttentionRollout
"""
from fastxai._captum.attribution import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    PerturbationAttribution,
)
from fastxai.attr._gradient import *  # noqa: F401,F403
from fastxai.attr._gradient import __all__ as _gradient_all
from fastxai.attr.perturbation import *  # noqa: F401,F403
from fastxai.attr.perturbation import __all__ as _perturbation_all
from fastxai.attr.sampling import *  # noqa: F401,F403
from fastxai.attr.sampling import __all__ as _sampling_all

__all__ = sorted(
    {
        "Attribution",
        "GradientAttribution",
        "LayerAttribution",
        "PerturbationAttribution",
        *_perturbation_all,
        *_gradient_all,
        *_sampling_all,
    }
)

# --- issue 12 (H8): the rest of captum.attr's non-method names. Keep this block last. ---------
# Names served lazily (module __getattr__) so ``import fastxai.attr`` does not import what they need
# (the summarisers are fastxai.eval metric states).
_LAZY = {
    "visualization": "fastxai.attr.visualization",
    **dict.fromkeys(
        ["Summarizer", "SummarizerSingleTensor", "ClassSummarizer", "CommonStats", "Mean", "StdDev", "Var",
         "MSE", "Min", "Max", "Sum", "Count", "StatValue"], "fastxai.attr.summary"),
    **dict.fromkeys(
        ["InterpretableInput", "ImageMaskInput", "InterpretableEmbeddingBase", "TokenReferenceBase",
         "configure_interpretable_embedding_layer", "remove_interpretable_embedding_layer", "ProductBaselines"],
        "fastxai.attr.inputs"),
}


def __getattr__(name: str) -> object:  # the module attribute hook serving _LAZY
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastxai.attr' has no attribute {name!r}")
    import importlib

    imported = importlib.import_module(module)
    value = imported if module.endswith("." + name) else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted({*__all__, *_LAZY})
