"""Pictures of attributions, Captum's ``captum.attr.visualization`` functions:

* images (:mod:`.image`): ``visualize_image_attr``, ``visualize_image_attr_multiple`` (plus
  ``normalize_attr``, ``overlay_rgb`` and ``save_overlay_png``, a Pillow-only PNG overlay);
* time series (:mod:`.timeseries`): ``visualize_timeseries_attr``;
* text (:mod:`.text`): ``visualize_text``, ``VisualizationDataRecord``,
  ``format_word_importances`` and the other HTML helpers;
* segment masks (:mod:`.masks`): ``draw_mask_border``, ``draw_mask_legend``.

matplotlib is imported only when a figure is drawn.
"""
from enum import Enum

from fastxai.attr.visualization.image import (
    METHODS, SIGNS, cumulative_sum_threshold, normalize_attr, overlay_rgb, save_overlay_png, visualize_image_attr,
    visualize_image_attr_multiple,
)
from fastxai.attr.visualization.masks import draw_mask_border, draw_mask_legend
from fastxai.attr.visualization.text import (
    HTML, VisualizationDataRecord, format_classname, format_special_tokens, format_tooltip, format_word_importances,
    visualize_text,
)
from fastxai.attr.visualization.timeseries import TIMESERIES_METHODS, visualize_timeseries_attr

ImageVisualizationMethod = Enum("ImageVisualizationMethod", list(METHODS))
TimeseriesVisualizationMethod = Enum("TimeseriesVisualizationMethod", list(TIMESERIES_METHODS))
VisualizeSign = Enum("VisualizeSign", list(SIGNS))

__all__ = [
    "visualize_image_attr", "visualize_image_attr_multiple", "visualize_timeseries_attr", "visualize_text",
    "VisualizationDataRecord", "format_word_importances", "format_classname", "format_special_tokens",
    "format_tooltip", "draw_mask_border", "draw_mask_legend", "normalize_attr", "cumulative_sum_threshold",
    "overlay_rgb", "save_overlay_png", "ImageVisualizationMethod", "TimeseriesVisualizationMethod",
    "VisualizeSign", "HTML", "METHODS", "SIGNS", "TIMESERIES_METHODS",
]
