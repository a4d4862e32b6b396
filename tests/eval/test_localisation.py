"""Localisation metrics vs Quantus 0.6 (1e-6), tie bounds, pinned deviations, streaming, 3D."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastxai.eval.localisation as L
from fastxai.eval.boxes import boxes_to_mask
from fastxai.eval.errors import InputError
from fastxai.eval.inputs import EmptyAnnotationWarning
from fastxai.eval.ranking import tie_bounds_top_k_hits
from tests.eval.metric_tester import check_batching

quantus = pytest.importorskip("quantus")

H, W = 20, 24


def _cases():
    g = torch.Generator().manual_seed(0)
    n = 12
    a = torch.randn(n, H, W, generator=g)  # signed, negative values
    a[1] = 0.0  # all-zero map
    a[2] = torch.randint(0, 3, (H, W), generator=g).float()  # many ties at the max
    a[3] = a[3].abs()  # positive
    a[4] = -a[4].abs()  # all negative
    a[5] = torch.randint(0, 2, (H, W), generator=g).float() * 0.5  # ties, two levels
    boxes = torch.tensor([
        [2, 3, 10, 12], [0, 0, 5, 5], [18, 14, 24, 20], [0, 0, 24, 20],  # border, full image
        [5, 5, 6, 6], [3, 1, 20, 7], [10, 0, 24, 3], [1, 1, 4, 19],
        [7, 7, 15, 13], [0, 10, 24, 11], [20, 0, 24, 20], [2.4, 3.6, 9.5, 11.5],
    ], dtype=torch.float64)
    return a, boxes


def _quantus(metric, a: torch.Tensor, s: torch.Tensor) -> np.ndarray:
    x = np.zeros((a.shape[0], 1, H, W), dtype=np.float32)
    y = np.zeros(a.shape[0], dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(model=None, x_batch=x, y_batch=y, a_batch=a[:, None].numpy(),
                     s_batch=s[:, None].numpy().astype(np.float32), batch_size=64)
    return np.asarray(out, dtype=np.float64)


def _close(ours: torch.Tensor, theirs: np.ndarray, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(ours.numpy(), theirs, atol=atol, rtol=0, equal_nan=True)


@pytest.fixture(scope="module")
def case():
    a, boxes = _cases()
    return a, boxes, boxes_to_mask(boxes, (H, W))


def test_pointing_game_quantus(case) -> None:
    a, boxes, s = case
    _close(L.pointing_game(a, boxes), _quantus(quantus.PointingGame(disable_warnings=True), a, s))


def test_relevance_mass_accuracy_quantus(case) -> None:
    a, boxes, s = case
    ours = L.relevance_mass_accuracy(a, boxes)
    theirs = _quantus(quantus.RelevanceMassAccuracy(disable_warnings=True), a, s)
    assert np.isnan(ours[1]) and np.isnan(theirs[1])  # all-zero map: 0/0
    _close(ours, theirs)
    _close(L.relevance_mass_accuracy(a, boxes, quantus_compat=True), theirs)


def test_attribution_localisation_quantus(case) -> None:
    a, boxes, s = case
    theirs = _quantus(quantus.AttributionLocalisation(disable_warnings=True), a, s)
    _close(L.attribution_localisation(a, boxes, quantus_compat=True), theirs, atol=1e-7)
    _close(L.attribution_localisation(a, boxes), theirs)
    assert float(L.attribution_localisation(a, boxes)[1]) == 0.0  # all-zero map -> 0.0


def test_heatmap_auroc_quantus(case) -> None:
    a, boxes, s = case
    ours = L.heatmap_auroc(a, boxes)
    theirs = _quantus(quantus.AUC(disable_warnings=True), a, s)
    assert np.isnan(theirs[3]) and np.isnan(ours[3])  # full-image mask
    assert float(ours[1]) == 0.5
    _close(ours, theirs)


@pytest.mark.parametrize("k", [1, 30, 100])
def test_top_k_intersection_within_quantus_tie_bounds(case, k) -> None:
    a, boxes, s = case
    ours = L.top_k_intersection(a, boxes, k=k)
    theirs = _quantus(quantus.TopKIntersection(k=k, disable_warnings=True), a, s)
    n = a.shape[0]
    lo, hi = tie_bounds_top_k_hits(a.reshape(n, -1), s.reshape(n, -1), torch.full((n,), k))
    assert ((ours * k).round() >= lo).all() and ((ours * k).round() <= hi).all()
    assert np.all(theirs * k >= lo.numpy() - 1e-6) and np.all(theirs * k <= hi.numpy() + 1e-6)
    untied = lo == hi
    _close(ours[untied], theirs[untied.numpy()])
    ci = L.top_k_intersection(a, boxes, k=k, concept_influence=True)
    ci_q = _quantus(quantus.TopKIntersection(k=k, concept_influence=True, disable_warnings=True), a, s)
    _close(ci[untied], ci_q[untied.numpy()])


def test_relevance_rank_accuracy_within_tie_bounds(case) -> None:
    a, boxes, s = case
    ours = L.relevance_rank_accuracy(a, boxes)
    theirs = _quantus(quantus.RelevanceRankAccuracy(disable_warnings=True), a, s)
    n = a.shape[0]
    k = s.reshape(n, -1).sum(1)
    lo, hi = tie_bounds_top_k_hits(a.reshape(n, -1), s.reshape(n, -1), k)
    hits = (ours * k).round()
    assert (hits >= lo).all() and (hits <= hi).all()
    untied = lo == hi
    _close(ours[untied], theirs[untied.numpy()])
    # tie rule: values >= k-th, then lowest index -> all-zero map takes the first K pixels
    m1 = s[1].reshape(-1)
    assert float(ours[1]) == pytest.approx(float(m1[: int(k[1])].sum()) / int(k[1]))


def test_empty_mask_is_nan_deviation_from_quantus(case) -> None:
    a, _, _ = case
    s = torch.zeros(2, H, W, dtype=torch.bool)
    s[1, 2:5, 2:5] = True
    a2 = a[:2].clone()
    a2[0] += 1.0
    theirs = _quantus(quantus.PointingGame(disable_warnings=True), a2, s)
    assert theirs[0] == 1.0  # Quantus: hit[...] = nan in a bool array -> True
    for fn in (L.pointing_game, L.relevance_mass_accuracy, L.energy_pointing_game,
               L.attribution_localisation, L.relevance_rank_accuracy, L.heatmap_auroc):
        with pytest.warns(EmptyAnnotationWarning, match=r"1 of 2 samples \[0\]"):
            assert torch.isnan(fn(a2, masks=s)[0]), fn.__name__


def test_energy_pointing_game_definition(case) -> None:
    a, boxes, s = case
    pos = a.clamp(min=0).reshape(a.shape[0], -1).double()
    ref = (pos * s.reshape(a.shape[0], -1)).sum(1) / pos.sum(1)
    torch.testing.assert_close(L.energy_pointing_game(a, boxes), ref, equal_nan=True)
    # equals RMA on the positive part
    torch.testing.assert_close(L.energy_pointing_game(a, boxes),
                               L.relevance_mass_accuracy(a, boxes, sign="positive"), equal_nan=True)


def test_pointing_game_variants() -> None:
    h = torch.zeros(3, 40, 40)
    h[:, 20, 20] = 1.0
    h[2, 0, 0] = 1.0  # tie: first argmax is (0, 0); quantus counts either
    m = torch.zeros(3, 40, 40, dtype=torch.bool)
    m[0, 20, 34] = True  # distance 14 < 15 -> torchray hit
    m[1, 20, 35] = True  # distance 15, strict < -> miss
    m[2, 20, 20] = True
    tr = L.pointing_game(h, masks=m, variant="torchray", tolerance=15)
    assert tr.tolist() == [1.0, 0.0, 0.0]
    assert L.pointing_game(h, masks=m, variant="quantus").tolist() == [0.0, 0.0, 1.0]
    assert L.pointing_game(h, masks=m, variant="saporta").tolist() == [0.0, 0.0, 0.0]
    assert L.pointing_game(h, masks=m, variant="torchray", tolerance=0).tolist() == [0.0, 0.0, 0.0]


def test_saporta_hit_upsamples_bilinear() -> None:
    g = torch.Generator().manual_seed(1)
    h = torch.rand(5, 7, 9, generator=g)
    m = torch.rand(5, 28, 36, generator=g) > 0.7
    up = torch.nn.functional.interpolate(h[:, None], size=(28, 36), mode="bilinear", align_corners=False)[:, 0]
    arg = up.reshape(5, -1).argmax(1)
    ref = m.reshape(5, -1).gather(1, arg[:, None])[:, 0].double()
    torch.testing.assert_close(L.pointing_game(h, masks=m, variant="saporta"), ref)


def test_channel_reduction_and_sign() -> None:
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4, 3, 10, 10, generator=g)
    b = torch.tensor([[1, 1, 6, 6]] * 4)
    torch.testing.assert_close(L.relevance_mass_accuracy(a, b), L.relevance_mass_accuracy(a.sum(1), b))
    torch.testing.assert_close(L.relevance_mass_accuracy(a, b, channel_reduction="mean"),
                               L.relevance_mass_accuracy(a.mean(1), b))
    torch.testing.assert_close(L.relevance_mass_accuracy(a, b, sign="abs"),
                               L.relevance_mass_accuracy(a.sum(1).abs(), b))


def test_volumes_3d() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 6, 8, 10, generator=g)
    boxes = torch.tensor([[1, 2, 0, 5, 6, 3], [0, 0, 0, 10, 8, 6], [4, 4, 2, 7, 7, 5]], dtype=torch.float64)
    m = boxes_to_mask(boxes, (6, 8, 10))
    assert m.shape == (3, 6, 8, 10) and int(m[0].sum()) == 4 * 4 * 3
    assert bool(m[0, 0:3, 2:6, 1:5].all())
    flat_a, flat_m = a.reshape(3, -1).double(), m.reshape(3, -1)
    rma = (flat_a * flat_m).sum(1) / flat_a.sum(1)
    torch.testing.assert_close(L.relevance_mass_accuracy(a, boxes, image_size=(6, 8, 10)), rma)
    torch.testing.assert_close(L.relevance_mass_accuracy(a, masks=m), rma)
    pg = L.pointing_game(a, masks=m)
    ref = flat_m.gather(1, flat_a.argmax(1, keepdim=True))[:, 0].double()
    torch.testing.assert_close(pg, ref)
    assert L.heatmap_auroc(a, masks=m).shape == (3,)
    assert L.pointing_game(a, masks=m, variant="torchray", tolerance=100).tolist()[0] == 1.0


@pytest.mark.parametrize("cls,opts", [
    (L.PointingGame, {}), (L.PointingGame, {"variant": "torchray"}), (L.RelevanceMassAccuracy, {}),
    (L.EnergyPointingGame, {}), (L.AttributionLocalisation, {}), (L.TopKIntersection, {"k": 10}),
    (L.RelevanceRankAccuracy, {}), (L.HeatmapAUROC, {}),
])
def test_streaming_batches_merge_pickle(case, cls, opts) -> None:
    a, boxes, _ = case
    ref = check_batching(lambda: cls(**opts), {"heatmaps": a, "boxes": boxes}, n=a.shape[0])
    scores = cls.score_fn(a, boxes, None, **opts)
    torch.testing.assert_close(ref, scores[~torch.isnan(scores)].mean(), equal_nan=True)


def test_nan_heatmap_names_samples() -> None:
    a = torch.rand(5, 8, 8)
    a[3, 1, 1] = float("nan")
    a[4, 0, 0] = float("inf")
    with pytest.raises(InputError, match=r"heatmaps.*\[3, 4\]"):
        L.pointing_game(a, torch.tensor([[0, 0, 4, 4]] * 5))


def test_mismatched_n() -> None:
    with pytest.raises(InputError, match="mismatched"):
        L.pointing_game(torch.rand(5, 8, 8), torch.tensor([[0, 0, 4, 4]] * 4))


def test_non_binary_mask() -> None:
    with pytest.raises(InputError, match="masks must be binary"):
        L.pointing_game(torch.rand(2, 8, 8), masks=torch.full((2, 8, 8), 0.5))


def test_empty_batch() -> None:
    z, zm = torch.zeros(0, 8, 8), torch.zeros(0, 8, 8, dtype=torch.bool)
    for fn in (L.pointing_game, L.relevance_mass_accuracy, L.heatmap_auroc, L.relevance_rank_accuracy,
               L.energy_pointing_game, L.attribution_localisation):
        assert fn(z, masks=zm).shape == (0,)
    m = L.PointingGame()
    m.update(z, masks=zm)
    assert torch.isnan(m.compute()) and int(m.count) == 0


# --------------------------------------------------------------------------- extreme magnitudes


def _big_maps(dtype: torch.dtype, n: int = 3, size: int = 20) -> torch.Tensor:
    big = torch.finfo(dtype).max
    g = torch.Generator().manual_seed(4)
    u = torch.rand(n, size, size, generator=g, dtype=torch.float64)
    h = torch.stack([big * (0.5 + 0.5 * u[0]), big * (u[1] - 0.3), big * u[2] ** 4])
    return h[:n].to(dtype)


def _exact_ratio(num_w: torch.Tensor, den_w: torch.Tensor) -> torch.Tensor:
    """Σnum / Σden per row in exact rational arithmetic (no overflow, no rounding until the end)."""
    from fractions import Fraction

    out = []
    for a, b in zip(num_w.tolist(), den_w.tolist()):
        den = sum(map(Fraction, b))
        out.append(float(sum(map(Fraction, a)) / den) if den else float("nan"))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", ["cpp", "torch"])
@pytest.mark.parametrize("annotation", ["boxes", "masks"])
def test_ratio_metrics_at_extreme_magnitudes_are_finite_and_exact(dtype, backend, annotation) -> None:
    """Heat maps near the dtype's maximum: relevance mass, energy pointing game and attribution
    localisation equal the exact rational ratios (they used to be NaN: float32 sums overflowed)."""
    from fastxai import use_backend

    h = _big_maps(dtype)
    boxes = torch.tensor([[2.0, 3.0, 15.0, 11.0]] * 3)
    m = boxes_to_mask(boxes, (20, 20))
    kw = {"boxes": boxes} if annotation == "boxes" else {"masks": m}
    hf, mf = h.double().reshape(3, -1), m.reshape(3, -1)
    pos = hf.clamp(min=0)
    with use_backend(backend):
        rma = L.relevance_mass_accuracy(h, **kw)
        epg = L.energy_pointing_game(h, **kw)
        al = L.attribution_localisation(h, **kw)
    torch.testing.assert_close(rma, _exact_ratio(hf * mf, hf), rtol=1e-12, atol=0)
    torch.testing.assert_close(epg, _exact_ratio(pos * mf, pos), rtol=1e-12, atol=0)
    want_al = _exact_ratio(hf.abs() * mf, hf.abs())
    torch.testing.assert_close(al, torch.where(want_al > 1, torch.full_like(want_al, float("nan")), want_al),
                               rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize("rule", ["sum", "mean", "abs_sum", "l2", "max"])
def test_channel_reduction_and_resize_near_the_float32_maximum(rule) -> None:
    """(N, C, H, W) float32 attributions near the maximum: the reduction (and the bilinear resize) is
    redone in float64 where float32 overflows, so finite input gives finite, exact ratios."""
    big = torch.finfo(torch.float32).max
    a = torch.full((2, 3, 10, 10), big * 0.9)
    a[1, :, :5] = big * 0.2
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[:, 2:9, 3:12] = True
    got = L.relevance_mass_accuracy(a, masks=masks, channel_reduction=rule)
    wide = a.double()
    red = {"sum": wide.sum(1), "mean": wide.mean(1), "abs_sum": wide.abs().sum(1),
           "l2": wide.pow(2).sum(1).sqrt(), "max": wide.amax(1)}[rule]
    up = torch.nn.functional.interpolate(red[:, None], size=(20, 20), mode="bilinear", align_corners=False)[:, 0]
    want = (up * masks).reshape(2, -1).sum(1) / up.reshape(2, -1).sum(1)
    assert bool(torch.isfinite(got).all())
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)  # float32 resize rounding where no overflow


def test_float64_channel_sum_beyond_float64_range_raises_naming_samples() -> None:
    a = torch.full((2, 3, 4, 4), torch.finfo(torch.float64).max / 2, dtype=torch.float64)
    a[0] = 1.0
    with pytest.raises(InputError, match=r"channel_reduction of samples \[1\] exceeds the float64 range"):
        L.relevance_mass_accuracy(a, masks=torch.ones(2, 4, 4, dtype=torch.bool))


def test_triton_interpreter_ratio_metrics_at_extreme_magnitudes() -> None:
    from tests.triton_interp import run_interpreted

    out = run_interpreted(
        """
        import torch
        from fastxai import use_backend
        import fastxai.eval as fe
        for dtype in (torch.float32, torch.float64):
            big = torch.finfo(dtype).max
            g = torch.Generator().manual_seed(0)
            h = (big * (0.5 + 0.5 * torch.rand(2, 30, 30, generator=g, dtype=torch.float64))).to(dtype)
            m = torch.zeros(2, 30, 30, dtype=torch.bool)
            m[:, 5:20, 3:9] = True
            with use_backend("triton"):
                got = fe.relevance_mass_accuracy(h, masks=m)
            with use_backend("torch"):
                ref = fe.relevance_mass_accuracy(h, masks=m)
            assert bool(torch.isfinite(got).all()), got
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
        print("OK")
        """
    )
    assert "OK" in out
