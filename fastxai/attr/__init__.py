"""Captum-compatible attribution methods: ``from fastxai.attr import IntegratedGradients``.

* perturbation: FeatureAblation, Occlusion, FeaturePermutation, RISE
* sampling: ShapleyValueSampling, ShapleyValues, KernelShap, Lime, LimeBase (+ superpixel_mask)
* gradient (``attr/gradient``): Saliency, InputXGradient, IntegratedGradients, GradientShap,
  NoiseTunnel, DeepLift, DeepLiftShap, GuidedBackprop, Deconvolution, LRP (+ rules)
* cam (``attr/cam``): LayerGradCam, GuidedGradCam, GradCAMPlusPlus, XGradCAM, EigenCAM, ScoreCAM
* layer (``attr/layer``): LayerActivation, LayerGradientXActivation, LayerIntegratedGradients,
  LayerConductance, LayerDeepLift, LayerDeepLiftShap, LayerGradientShap, LayerLRP,
  InternalInfluence
* neuron (``attr/neuron``): NeuronAttribution, NeuronGradient, NeuronIntegratedGradients,
  NeuronConductance, NeuronDeepLift, NeuronDeepLiftShap, NeuronGradientShap,
  NeuronGuidedBackprop, NeuronDeconvolution
* attention (``attr/attention``): AttentionRollout
"""
from fastxai._captum.attribution import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    PerturbationAttribution,
)
from fastxai.attr.attention import *  # noqa: F401,F403
from fastxai.attr.attention import __all__ as _attention_all
from fastxai.attr.cam import *  # noqa: F401,F403
from fastxai.attr.cam import __all__ as _cam_all
from fastxai.attr.gradient import *  # noqa: F401,F403
from fastxai.attr.gradient import __all__ as _gradient_all
from fastxai.attr.layer import *  # noqa: F401,F403
from fastxai.attr.layer import __all__ as _layer_all
from fastxai.attr.neuron import *  # noqa: F401,F403
from fastxai.attr.neuron import __all__ as _neuron_all
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
        *_attention_all,
        *_cam_all,
        *_perturbation_all,
        *_gradient_all,
        *_layer_all,
        *_neuron_all,
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
