"""Captum's interpretable inputs: what a model takes vs. the features an attribution is about.

An :class:`InterpretableInput` maps an interpretable representation ``x'`` (a tensor, usually
(1, F) presence flags for F features) to the model's input ``x = h(x')``. :class:`ImageMaskInput`
does it for an image split into segments: a segment flagged 0 is painted with a baseline colour.
(Captum uses these in its LLM attribution classes; the text inputs come with those.)
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor


class InterpretableInput(ABC):
    """Adapter between a model input and its interpretable representation.

    Subclasses set ``n_itp_features`` (F) and ``values`` (F feature names) and implement
    ``to_tensor`` and ``to_model_input``; ``format_attr`` may map attributions of the F
    features (*O, F) back to the input's shape."""

    n_itp_features: int
    values: List[str]

    @abstractmethod
    def to_tensor(self) -> Tensor:
        """The interpretable representation of the unperturbed input, e.g. (1, F) ones."""

    @abstractmethod
    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Any:
        """The model input for a (perturbed) interpretable tensor (the original input for None)."""

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions of the interpretable features (*O, F), formatted (default: unchanged)."""
        return itp_attr


class ImageMaskInput(InterpretableInput):
    """An image whose interpretable features are pixel segments.

    ``image``: a PIL image (H, W); ``mask`` (H, W) integer segment ids (None: the whole image is
    one feature) or ``mask_list``: F boolean (H, W) masks that may overlap (``mask`` is then
    ignored); ``baseline``: the RGB colour of absent segments; ``processor_fn``: turns the
    (perturbed) image into the model input (default: the image itself). Features are ordered by
    segment id (``mask_id_to_idx``); ``to_tensor()`` is (1, F) ones; ``to_model_input(t)`` paints
    every segment whose flag in ``t`` (1, F) is 0."""

    def __init__(
        self,
        image: Any,
        mask: Optional[Tensor] = None,
        mask_list: Optional[List[Tensor]] = None,
        baseline: Tuple[int, int, int] = (255, 255, 255),
        processor_fn: Callable[[Any], Any] = lambda x: x,
    ) -> None:
        super().__init__()
        self.processor_fn = processor_fn
        self.image = image
        self.baseline = baseline
        shape = (image.size[1], image.size[0])  # (H, W)
        if mask_list is not None:
            for i, m in enumerate(mask_list):
                if tuple(m.shape) != shape:
                    raise AssertionError(f"mask_list[{i}] shape {m.shape} must match image shape {shape}")
            mask_ids: List[int] = list(range(len(mask_list)))
            mask = torch.empty(0)
        else:
            if mask is None:
                mask = torch.zeros(shape, dtype=torch.int32)
            elif tuple(mask.shape) != shape:
                raise AssertionError(f"mask shape {mask.shape} must match image shape {shape}")
            mask_ids = torch.unique(mask).cpu().tolist()
            mask_list = []
        self.mask: Tensor = mask
        self.mask_list: List[Tensor] = mask_list
        self.n_itp_features = len(mask_ids)
        self.mask_id_to_idx: Dict[int, int] = {int(m): i for i, m in enumerate(mask_ids)}
        self.values = [f"image_feature_{m}" for m in mask_ids]
        self.original_model_inputs = processor_fn(image)

    def to_tensor(self) -> Tensor:
        """(1, F) float ones: every segment present."""
        return torch.tensor([[1.0] * self.n_itp_features])

    def _feature_index_map(self, device: Union[str, torch.device] = "cpu") -> Tensor:
        """(H, W) int64 feature index of each pixel (``mask`` path)."""
        ids = torch.tensor(list(self.mask_id_to_idx), dtype=torch.int64)
        flat = torch.searchsorted(ids, self.mask.reshape(-1).to(torch.int64).cpu())
        return flat.reshape(self.mask.shape).to(device)

    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Any:
        """``processor_fn`` of the image with the segments flagged 0 in ``perturbed_tensor``
        (1, F) painted ``baseline`` (the original model input for None)."""
        if perturbed_tensor is None:
            return self.original_model_inputs
        from PIL import Image

        absent = (perturbed_tensor[0] == 0).cpu()
        pixels = np.array(self.image)
        if self.mask_list:
            paint = torch.zeros(pixels.shape[:2], dtype=torch.bool)
            for i, m in enumerate(self.mask_list):
                if absent[i]:
                    paint |= m.bool().cpu()
        else:
            paint = absent[self._feature_index_map()]
        pixels[paint.numpy()] = self.baseline
        return self.processor_fn(Image.fromarray(pixels.astype("uint8")))

    def get_mask_list(self) -> List[Tensor]:
        """One boolean (H, W) mask per feature (``mask_list`` itself when given)."""
        return self.mask_list or [self.mask == m for m in self.mask_id_to_idx]

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions per segment (*O, F), unchanged."""
        return itp_attr

    def format_pixel_attr(self, itp_attr: Tensor) -> Tensor:
        """Per-pixel attributions (*O, H, W) from per-segment ones (*O, F); overlapping
        ``mask_list`` segments add up."""
        device = itp_attr.device
        if self.mask_list:
            shape = (*itp_attr.shape[:-1], self.image.size[1], self.image.size[0])
            out = torch.zeros(shape, device=device)
            for i, m in enumerate(self.mask_list):
                out = out + itp_attr[..., i, None, None] * m.bool().to(device)
            return out
        return itp_attr[..., self._feature_index_map(device)]

    def plot_mask_overlay(self, show: bool = False, border_width: int = 0,
                          show_legends: bool = True) -> Union[None, Tuple[Any, Any]]:
        """The image with each segment tinted a random colour (``np.random``), optional inner
        borders and segment-id labels -> (Figure, Axes), or None after ``plt.show()``."""
        import matplotlib.pyplot as plt

        from fastxai.attr.visualization.masks import draw_mask_border, draw_mask_legend

        fig, ax = plt.subplots()
        ax.imshow(self.image)
        fig.set_facecolor("white")
        colors = [np.array([*np.random.random(3), 0.6]) for _ in range(self.n_itp_features)]
        for m, color, mid in zip(self.get_mask_list(), colors, self.mask_id_to_idx):
            seg = m.numpy().astype(bool)
            h, w = seg.shape
            ax.imshow(seg.reshape(h, w, 1) * color.reshape(1, 1, -1))
            if border_width > 0:
                draw_mask_border(ax, seg, border_width, np.array([*color[:3], 0.8]))
            if show_legends:
                draw_mask_legend(ax, seg, label=str(mid))
        ax.axis("off")
        if show:
            plt.show()
            return None
        return fig, ax
