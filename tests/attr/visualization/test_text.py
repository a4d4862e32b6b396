"""Text visualisation: Captum 0.9's HTML, character for character."""
import numpy as np
import pytest
import torch

from fastxai.attr import visualization as viz


class _HTML:
    def __init__(self, data):
        self.data = data


@pytest.fixture
def cviz(monkeypatch):
    mod = pytest.importorskip("captum.attr._utils.visualization")
    # Captum asserts IPython is installed; give it a stand-in that keeps the string
    monkeypatch.setattr(mod, "HAS_IPYTHON", True)
    monkeypatch.setattr(mod, "HTML", _HTML, raising=False)
    monkeypatch.setattr(mod, "display", lambda x: None, raising=False)
    return mod


@pytest.mark.parametrize("importances", [
    [0.3, -0.7, 0.0, 1.5, -2.0],
    np.array([0.3, -0.7, 0.0, 0.99, -0.01]),
    torch.tensor([0.25, -0.5, 0.75, -1.0, 0.1]),
])
def test_word_importances_match_captum(cviz, importances):
    words = ["<s>", "the", "scan", "is", "clear"]
    assert viz.format_word_importances(words, importances) == cviz.format_word_importances(words, importances)
    assert viz.format_word_importances(words[:3], importances) == cviz.format_word_importances(words[:3], importances)
    assert viz.format_word_importances(words, []) == cviz.format_word_importances(words, [])


def test_helpers_match_captum(cviz):
    assert viz.format_tooltip("a", "b") == cviz.format_tooltip("a", "b")
    assert viz.format_classname(3) == cviz.format_classname(3)
    assert viz.format_special_tokens("<pad>") == cviz.format_special_tokens("<pad>") == "#pad"


@pytest.mark.parametrize("legend", [True, False])
def test_visualize_text_matches_captum(cviz, legend):
    def records(mod):
        return [mod.VisualizationDataRecord(torch.tensor([0.2, -0.4, 0.9]), 0.876, 1, 0, 1, 1.2345,
                                            ["a", "<unk>", "c"], 0.01),
                mod.VisualizationDataRecord([0.1], 0.5, "pos", "neg", "pos", -0.5, ["z"], 0.0)]

    ours = viz.visualize_text(records(viz), legend=legend)
    assert ours.data == cviz.visualize_text(records(cviz), legend=legend).data


def test_bad_importances():
    with pytest.raises(AssertionError, match="1D"):
        viz.format_word_importances(["a"], np.ones((1, 1)))
    with pytest.raises(AssertionError, match="importances"):
        viz.format_word_importances(["a", "b"], [0.1])
