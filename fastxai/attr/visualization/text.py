"""Captum's text visualisation: coloured word importances as an HTML table.

The HTML strings are Captum 0.9's, character for character (its odd whitespace and its
unclosed ``<tr>`` included), so saved reports and string comparisons stay the same.
``visualize_text`` returns ``IPython.display.HTML`` and displays it when IPython is installed
(as Captum does); without IPython it returns a small :class:`HTML` holder (``.data`` is the
string, ``_repr_html_`` renders it) instead of failing.
"""
from __future__ import annotations

from typing import Any, Iterable, List, Sequence, Union

_MARK = ('<mark style="background-color: {color}; opacity:1.0;' + " " * 21 + 'line-height:1.75">'
         '<font color="black"> {word}' + " " * 20 + "</font></mark>")
_LEGEND_BOX = ('<div style="border-top: 1px solid; margin-top: 5px;' + " " * 13
               + 'padding-top: 5px; display: inline-block">')
_LEGEND_ITEM = ('<span style="display: inline-block; width: 10px; height: 10px;' + " " * 17
                + "border: 1px solid; background-color:" + " " * 17 + '{value}"></span> {label}  ')
_HEADER = ("<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th>"
           "<th>Attribution Score</th><th>Word Importance</th>")


class VisualizationDataRecord:
    """What one row of :func:`visualize_text` shows.

    ``word_attributions`` (T,) one importance per token in [-1, 1]; ``raw_input_ids`` the T
    tokens (strings); the predicted class and probability, the true class, the class attributed
    to and its total attribution score, and a convergence score (kept, not shown)."""

    __slots__ = ["word_attributions", "pred_prob", "pred_class", "true_class", "attr_class", "attr_score",
                 "raw_input_ids", "convergence_score"]

    def __init__(self, word_attributions: Any, pred_prob: float, pred_class: int, true_class: int,
                 attr_class: int, attr_score: float, raw_input_ids: List[str], convergence_score: float) -> None:
        self.word_attributions = word_attributions
        self.pred_prob = pred_prob
        self.pred_class = pred_class
        self.true_class = true_class
        self.attr_class = attr_class
        self.attr_score = attr_score
        self.raw_input_ids = raw_input_ids
        self.convergence_score = convergence_score


def _get_color(attr: float) -> str:
    """CSS colour of an importance clipped to [-1, 1]: green lighter->darker for positive,
    red for negative (white at 0)."""
    attr = max(-1, min(1, attr))
    if attr > 0:
        return "hsl(120, 75%, {}%)".format(100 - int(50 * attr))
    return "hsl(0, 75%, {}%)".format(100 - int(-40 * attr))


def format_classname(classname: Union[str, int]) -> str:
    """One bold table cell."""
    return '<td><text style="padding-right:2em"><b>{}</b></text></td>'.format(classname)


def format_special_tokens(token: str) -> str:
    """``<tok>`` -> ``#tok`` (so special tokens are not read as HTML tags)."""
    if token.startswith("<") and token.endswith(">"):
        return "#" + token.strip("<>")
    return token


def format_tooltip(item: str, text: str) -> str:
    """``item`` with a hover tooltip ``text``."""
    return '<div class="tooltip">{}{}<span class="tooltiptext">{}</span>{}</div>'.format(item, " " * 8, text, " " * 8)


def format_word_importances(words: Sequence[str], importances: Any) -> str:
    """One table cell of the ``words`` highlighted by ``importances`` (T,) (a sequence, a 1-D
    numpy array or tensor at least as long as ``words``); ``<td></td>`` when there are none."""
    if importances is None or len(importances) == 0:
        return "<td></td>"
    if hasattr(importances, "shape") and len(importances.shape) != 1:
        raise AssertionError("Expected 1D array, got {}".format(importances.shape))
    if len(words) > len(importances):
        raise AssertionError(f"importances: {len(importances)} values for {len(words)} words")
    tags = ["<td>"]
    for word, importance in zip(words, importances[: len(words)]):
        tags.append(_MARK.format(color=_get_color(importance), word=format_special_tokens(word)))
    tags.append("</td>")
    return "".join(tags)


class HTML:
    """A holder for an HTML string (used when IPython is not installed): ``.data``."""

    def __init__(self, data: str) -> None:
        self.data = data

    def _repr_html_(self) -> str:
        return self.data

    def __repr__(self) -> str:
        return f"HTML({len(self.data)} characters)"


def _html_table(datarecords: Iterable[VisualizationDataRecord], legend: bool) -> str:
    rows = [_HEADER]
    for r in datarecords:
        rows.append("".join([
            "<tr>",
            format_classname(r.true_class),
            format_classname("{0} ({1:.2f})".format(r.pred_class, r.pred_prob)),
            format_classname(r.attr_class),
            format_classname("{0:.2f}".format(r.attr_score)),
            format_word_importances(r.raw_input_ids, r.word_attributions),
            "<tr>",
        ]))
    dom = ["<table width: 100%>"]
    if legend:
        dom.append(_LEGEND_BOX)
        dom.append("<b>Legend: </b>")
        for value, label in zip([-1, 0, 1], ["Negative", "Neutral", "Positive"]):
            dom.append(_LEGEND_ITEM.format(value=_get_color(value), label=label))
        dom.append("</div>")
    dom.append("".join(rows))
    dom.append("</table>")
    return "".join(dom)


def visualize_text(datarecords: Iterable[VisualizationDataRecord], legend: bool = True) -> Any:
    """An HTML table, one row per record: true / predicted / attributed class, attribution score
    and the coloured words (plus a colour legend). Displayed and returned as
    ``IPython.display.HTML`` when IPython is installed, else returned as :class:`HTML`."""
    html = _html_table(datarecords, legend)
    try:
        from IPython.display import HTML as IPythonHTML, display
    except ImportError:
        return HTML(html)
    out = IPythonHTML(html)
    display(out)
    return out

