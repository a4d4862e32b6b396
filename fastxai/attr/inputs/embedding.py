"""Captum's embedding helpers: attribute to word embeddings instead of token ids.

``configure_interpretable_embedding_layer(model, "embedding")`` swaps the named (dotted path)
embedding layer for an :class:`InterpretableEmbeddingBase` that passes precomputed embeddings
through, so a method can take embeddings (B, T, E) as input; ``indices_to_embeddings`` computes
them from ids (B, T); ``remove_interpretable_embedding_layer`` puts the original layer back.
:class:`TokenReferenceBase` builds a reference (baseline) sequence of one token id.
"""
from __future__ import annotations

import warnings
from functools import reduce
from typing import Any

import torch
from torch.nn import Module


class InterpretableEmbeddingBase(Module):
    """Stands in for an embedding layer: ``forward`` returns its first argument (the embeddings,
    (B, T, E)) unchanged; ``indices_to_embeddings`` runs the wrapped layer."""

    def __init__(self, embedding: Module, full_name: str) -> None:
        Module.__init__(self)
        self.num_embeddings = getattr(embedding, "num_embeddings", None)
        self.embedding_dim = getattr(embedding, "embedding_dim", None)
        self.embedding = embedding
        self.full_name = full_name

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """The precomputed embeddings: the first positional argument, else the first keyword."""
        if not inputs and not kwargs:
            raise AssertionError(
                "No input arguments are provided to `InterpretableEmbeddingBase`. Input embedding tensor has to "
                "be provided as first argument to forward function either through inputs argument or kwargs.")
        return inputs[0] if inputs else next(iter(kwargs.values()))

    def indices_to_embeddings(self, *input: Any, **kwargs: Any) -> torch.Tensor:
        """Embeddings (B, T, E) of token ids (B, T) (or whatever the wrapped layer takes)."""
        return self.embedding(*input, **kwargs)


class TokenReferenceBase:
    """Reference (baseline) token sequences made of one token id, e.g. PAD."""

    def __init__(self, reference_token_idx: int = 0) -> None:
        self.reference_token_idx = reference_token_idx

    def generate_reference(self, sequence_length: int, device: torch.device) -> torch.Tensor:
        """(sequence_length,) int64 tensor of ``reference_token_idx`` on ``device``."""
        return torch.tensor([self.reference_token_idx] * sequence_length, device=device)


def _get(obj: Any, dotted: str) -> Any:
    return reduce(getattr, dotted.split("."), obj)


def _set(obj: Any, dotted: str, value: Any) -> None:
    names = dotted.split(".")
    setattr(reduce(getattr, names[:-1], obj), names[-1], value)


def configure_interpretable_embedding_layer(model: Module, embedding_layer_name: str = "embedding") -> InterpretableEmbeddingBase:
    """Replace ``model``'s layer at ``embedding_layer_name`` (a dotted path) by an
    :class:`InterpretableEmbeddingBase` wrapping it, and return that wrapper. Warns, as Captum
    does, that the layer must be restored with :func:`remove_interpretable_embedding_layer`."""
    layer = _get(model, embedding_layer_name)
    if layer.__class__ is InterpretableEmbeddingBase:
        raise AssertionError(f"InterpretableEmbeddingBase has already been configured for layer {embedding_layer_name}")
    warnings.warn(
        "In order to make embedding layers more interpretable they will be replaced with an interpretable "
        "embedding layer which wraps the original embedding layer and takes word embedding vectors as inputs of "
        "the forward function. This allows us to generate baselines for word embeddings and compute "
        "attributions for each embedding dimension. The original embedding layer must be set back by calling "
        "`remove_interpretable_embedding_layer` function after model interpretation is finished. ",
        stacklevel=1,
    )
    wrapper = InterpretableEmbeddingBase(layer, embedding_layer_name)
    _set(model, embedding_layer_name, wrapper)
    return wrapper


def remove_interpretable_embedding_layer(model: Module, interpretable_emb: InterpretableEmbeddingBase) -> None:
    """Put the original embedding layer back where ``interpretable_emb`` stands in ``model``."""
    _set(model, interpretable_emb.full_name, interpretable_emb.embedding)
