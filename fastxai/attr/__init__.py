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
