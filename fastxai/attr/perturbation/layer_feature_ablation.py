"""LayerFeatureAblation: FeatureAblation on an internal layer's output (or input): each
neuron group of the layer is set to its baseline and the output drop recorded."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import LayerAttribution, PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.engine.ablation import ablation_attributions
from fastxai.engine.targets import TargetType
from fastxai.engine.through_layer import ThroughLayer, layer_activations


class LayerFeatureAblation(LayerAttribution, PerturbationAttribution):
    """Captum-compatible LayerFeatureAblation on the batched engine: the layer's activations
    are the ablated "inputs" (:func:`~fastxai.engine.ablation.ablation_attributions`) of a
    forward that puts them back into the model (:class:`~fastxai.engine.through_layer.ThroughLayer`)."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        PerturbationAttribution.__init__(self, forward_func)

    @log_usage
    def attribute(
        self,
        inputs: TensorOrTuple,
        layer_baselines: Union[None, Tensor, int, float, Tuple[Union[Tensor, int, float], ...]] = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        layer_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        attribute_to_layer_input: bool = False,
        perturbations_per_eval: Optional[int] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """Ablate each neuron group of the layer.

        Args:
            inputs: the model's inputs, (N, *S) tensor or tuple.
            layer_baselines: what ablated neurons become: a scalar or a tensor broadcastable
                to the layer's (N, *L) activations (a tuple for a tuple-valued layer). Default 0.
            target, additional_forward_args: as FeatureAblation.
            layer_mask: integer group ids broadcastable to the activations (default: every
                neuron alone).
            attribute_to_layer_input: ablate the layer's input instead of its output.
            perturbations_per_eval: cap on groups per forward (None = auto-calibrated).
            max_batch / max_memory: caps on rows / bytes per forward.
        Returns:
            attributions of the layer's activations' shapes, (N, *L) each (a tuple when the
            layer has several tensors), in the model output's dtype.
        """
        model = normalize_call(inputs, additional_forward_args=additional_forward_args)
        acts, _ = layer_activations(self.forward_func, self.layer, model.inputs, model.additional_args,
                                    attribute_to_layer_input)
        forward = ThroughLayer(self.forward_func, self.layer, len(acts), attribute_to_layer_input)
        call = normalize_call(
            acts if len(acts) > 1 else acts[0], baselines=layer_baselines, target=target,
            additional_forward_args=model.inputs + (model.additional_args or ()),
            feature_mask=layer_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, desc=f"{self.get_name()} attribution",
            broadcast_baselines=True,
        )
        return format_result(call, ablation_attributions(forward, call))
