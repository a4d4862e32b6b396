"""LayerFeaturePermutation: FeaturePermutation on an internal layer's output: each neuron
group is shuffled across the batch and the output drop recorded. A FeaturePermutation and
a LayerAttribution, as in Captum."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from torch import Tensor, nn

from fastxai._captum.attribution import LayerAttribution, log_usage
from fastxai._captum.call import normalize_call
from fastxai._captum.inputs import TensorOrTuple
from fastxai.attr.perturbation.feature_permutation import FeaturePermutation, _permute_feature
from fastxai.engine.targets import TargetType
from fastxai.engine.through_layer import ThroughLayer, layer_activations


class LayerFeaturePermutation(LayerAttribution, FeaturePermutation):
    """Captum-compatible LayerFeaturePermutation: FeaturePermutation's computation (its
    parent's, as Captum delegates) on the layer's activations, with a forward that puts the
    shuffled activations back into the model (:class:`~fastxai.engine.through_layer.ThroughLayer`)."""

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None,
                 perm_func: Callable[[Tensor, Tensor], Tensor] = _permute_feature) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        FeaturePermutation.__init__(self, forward_func, perm_func)

    @log_usage
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        layer_mask: Union[None, Tensor, Tuple[Tensor, ...]] = None,
        perturbations_per_eval: Optional[int] = None,
        *,
        seed: Optional[int] = None,
        max_batch: Optional[int] = None,
        max_memory: Optional[int] = None,
    ) -> TensorOrTuple:
        """Shuffle each neuron group of the layer's output across the batch.

        Args:
            inputs: the model's inputs, (N, *S) tensor or tuple, N > 1.
            target, additional_forward_args: as FeaturePermutation (a target is selected
                once; Captum 0.9 selects it twice and fails on one).
            layer_mask: integer group ids broadcastable to the layer's (N, *L) activations.
            perturbations_per_eval: cap on groups per forward (None = auto; without ``seed``
                it also fixes the order of the random draws, Captum's default 1).
            seed: counter-based permutations instead of the global RNG.
        Returns:
            attributions of the layer's output shape(s), (N, *L) each.
        """
        model = normalize_call(inputs, additional_forward_args=additional_forward_args)
        acts, _ = layer_activations(self.forward_func, self.layer, model.inputs, model.additional_args)
        permutator = FeaturePermutation(ThroughLayer(self.forward_func, self.layer, len(acts)), self.perm_func)
        permutator._min_examples_per_batch_grouped = self._min_examples_per_batch_grouped
        return FeaturePermutation.attribute.__wrapped__(  # type: ignore[attr-defined]
            permutator, acts if len(acts) > 1 else acts[0], target=target,
            additional_forward_args=model.inputs + (model.additional_args or ()), feature_mask=layer_mask,
            perturbations_per_eval=perturbations_per_eval, seed=seed, max_batch=max_batch,
            max_memory=max_memory,
        )

    def attribute_future(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Not available: Captum 0.9's LayerFeaturePermutation inherits FeaturePermutation's,
        which permutes the model's inputs rather than the layer."""
        raise NotImplementedError("attribute_future is not implemented for LayerFeaturePermutation")
