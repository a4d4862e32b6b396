"""Inputs and baselines helpers (Captum's): interpretable inputs (``InterpretableInput``,
``ImageMaskInput``), embedding-layer helpers (``InterpretableEmbeddingBase``,
``configure_interpretable_embedding_layer``, ``remove_interpretable_embedding_layer``,
``TokenReferenceBase``) and ``ProductBaselines``."""
from fastxai.attr.inputs.baselines import ProductBaselines
from fastxai.attr.inputs.embedding import (
    InterpretableEmbeddingBase, TokenReferenceBase, configure_interpretable_embedding_layer,
    remove_interpretable_embedding_layer,
)
from fastxai.attr.inputs.interpretable import ImageMaskInput, InterpretableInput

__all__ = [
    "InterpretableInput", "ImageMaskInput", "InterpretableEmbeddingBase", "TokenReferenceBase",
    "configure_interpretable_embedding_layer", "remove_interpretable_embedding_layer", "ProductBaselines",
]
