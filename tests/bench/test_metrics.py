"""Bench metrics = fastxai.eval calls on the annotated units; border mass by its definition."""
from __future__ import annotations

import math

import pytest
import torch

import fastxai.eval as fe
from fastxai.bench.metrics import EvalBatch, border_mass, score_batch


def test_border_mass_definition():
    h = torch.zeros(2, 10, 10)
    h[0, 0, 0] = 3.0  # in the band
    h[0, 5, 5] = 1.0  # inside
    h[0, 4, 4] = -5.0  # negative: ignored
    assert border_mass(h, 0.1)[0] == pytest.approx(0.75)
    assert math.isnan(float(border_mass(h, 0.1)[1]))  # no positive mass
    assert border_mass(torch.ones(1, 10, 10), 0.2)[0] == pytest.approx(1 - 36 / 100)


def test_score_batch_matches_fastxai_eval():
    torch.manual_seed(0)
    maps = torch.rand(3, 16, 16)
    boxes = [torch.tensor([[2.0, 2.0, 8.0, 8.0]]), torch.zeros(0, 4), torch.tensor([[0.0, 0.0, 16.0, 4.0]])]
    x = torch.rand(3, 1, 16, 16)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    prob = lambda z: torch.softmax(model(z), 1)  # noqa: E731
    eb = EvalBatch(maps, x, torch.tensor([0, 1, 1]), boxes, None, prob)
    vals, curves = score_batch(["pointing_game", "iou_otsu", "sparseness", "deletion_auc"], eb, curve_steps=4)
    ann = [0, 2]
    ref = fe.pointing_game(maps[ann], [boxes[i] for i in ann], image_size=(16, 16))
    assert torch.equal(vals["pointing_game"][ann], ref) and math.isnan(float(vals["pointing_game"][1]))
    ref_iou = fe.saporta_iou(maps[ann], [boxes[i] for i in ann], image_size=(16, 16), threshold="otsu")
    assert torch.allclose(vals["iou_otsu"][ann], ref_iou, equal_nan=True)
    assert torch.allclose(vals["sparseness"], fe.sparseness(maps).double())
    curve = fe.deletion_curve(prob, x, maps, target=torch.tensor([0, 1, 1]), mode="deletion", step=64)
    assert torch.allclose(curves["deletion"], curve) and torch.allclose(vals["deletion_auc"], fe.curve_auc(curve))


def test_randomisation_is_the_last_layer_of_the_cascade():
    from fastxai.bench.config import MethodSection
    from fastxai.bench.methods import explainer_factory
    from fastxai.bench.metrics import randomisation_scores
    from fastxai.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(1, 2, width=4).eval()
    x = torch.randn(3, 1, 16, 16)
    t = torch.tensor([0, 1, 1])
    make = explainer_factory(MethodSection(name="Saliency"), 0)
    got = randomisation_scores(model, make, x, t, ["a", "b", "c"], "top_down", seed=3)
    ref = fe.model_parameter_randomisation(model, x, t, lambda m, xx, tt: make(m)(xx, tt, ["a", "b", "c"]),
                                           order="top_down", seed=3)
    assert torch.equal(got, list(ref.values())[-1].double())
