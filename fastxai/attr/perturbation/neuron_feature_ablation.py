"""NeuronFeatureAblation: FeatureAblation of the inputs, with one neuron of an internal
layer as the output: attr[feature] = neuron(x) - neuron(x with the feature at its baseline)."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import NeuronAttribution, PerturbationAttribution, log_usage
from fastxai._captum.call import format_result, normalize_call
from fastxai._captum.inputs import BaselineType, TensorOrTuple
from fastxai.engine.ablation import ablation_attributions
from fastxai.engine.through_layer import NeuronOutput
from fastxai.engine.wrt import NeuronSelector


class NeuronFeatureAblation(NeuronAttribution, PerturbationAttribution):
    """Captum-compatible NeuronFeatureAblation on the batched engine: the inputs' ablation
    (:func:`~fastxai.engine.ablation.ablation_attributions`) read at one neuron
    (:class:`~fastxai.engine.through_layer.NeuronOutput`)."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        NeuronAttribution.__init__(self, forward_func, layer, device_ids)
        PerturbationAttribution.__init__(self, forward_func)

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        neuron_selector: NeuronSelector,
        baselines: BaselineType = None,
        additional_forward_args: Any = None,
        feature_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        attribute_to_neuron_input: bool = False,
        perturbations_per_eval: Optional[int] = None,
        *,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """Ablate each input feature and record the drop of the selected neuron.

        Args:
            inputs: (N, *S) tensor or tuple of them.
            neuron_selector: an int or a tuple of ints / slices indexing the layer's output
                past the batch dim (slices: the selection's sum), or a callable taking the
                layer's output and returning (N,) values.
            baselines, additional_forward_args, feature_mask: as FeatureAblation.
            attribute_to_neuron_input: select the neuron from the layer's input.
            perturbations_per_eval: cap on features per forward (None = auto-calibrated).
            max_batch / max_memory: caps on rows / bytes per forward.
        Returns:
            attributions mirroring ``inputs``, each (N, *S), in the layer's dtype.
        """
        call = normalize_call(
            inputs, baselines=baselines, additional_forward_args=additional_forward_args,
            feature_mask=feature_mask, perturbations_per_eval=perturbations_per_eval,
            max_batch=max_batch, max_memory=max_memory, desc=f"{self.get_name()} attribution",
            sparse_inputs=True, broadcast_baselines=True,
        )
        neuron = NeuronOutput(self.forward_func, self.layer, neuron_selector, attribute_to_neuron_input)
        return format_result(call, ablation_attributions(neuron, call))
