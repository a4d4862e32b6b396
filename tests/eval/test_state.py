"""Metric-state base: merge/reset/pickle, and sync over a real 2-process gloo group."""
from __future__ import annotations

import os
import pickle
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import fastxai.eval as fe
from fastxai.eval.groups import GroupMetrics
from fastxai.eval.state import MeanMetric, Metric


class CatMax(Metric):
    """Test metric with every reduction kind."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("s", torch.zeros(3, dtype=torch.float64), "sum")
        self.add_state("mx", torch.full((), -float("inf"), dtype=torch.float64), "max")
        self.add_state("mn", torch.full((), float("inf"), dtype=torch.float64), "min")
        self.add_state("vals", [], "cat")

    def update(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        self.s = self.s + torch.stack([x.sum(), (x * x).sum(), torch.tensor(float(x.numel()), dtype=torch.float64)])
        self.mx = torch.maximum(self.mx, x.max())
        self.mn = torch.minimum(self.mn, x.min())
        self.vals.append(x)
        self._mark_updated()

    def compute(self) -> dict:
        return {"s": self.s, "mx": self.mx, "mn": self.mn, "vals": self.cat_state("vals")}


def test_merge_reset_pickle() -> None:
    x = torch.randn(20, generator=torch.Generator().manual_seed(0))
    whole = CatMax()
    whole.update(x)
    a, b = CatMax(), CatMax()
    a.update(x[:7])
    b.update(x[7:])
    a.merge(b)
    for k, v in whole.compute().items():
        torch.testing.assert_close(a.compute()[k], v)
    c = pickle.loads(pickle.dumps(a))
    torch.testing.assert_close(c.compute()["vals"], x.double())
    c.reset()
    assert c.compute()["vals"].numel() == 0 and float(c.s.sum()) == 0.0


def test_merge_rejects_other_type() -> None:
    with pytest.raises(TypeError):
        MeanMetric().merge(CatMax())
    with pytest.raises(ValueError, match="'shape'"):
        MeanMetric(shape=(2,)).merge(MeanMetric(shape=(3,)))


def test_mean_metric_skips_nan() -> None:
    m = MeanMetric()
    m.update(torch.tensor([1.0, float("nan"), 3.0]))
    assert float(m.compute()) == 2.0 and int(m.nan_count) == 1
    assert torch.isnan(MeanMetric().compute())


def test_sync_noop_without_dist() -> None:
    m = MeanMetric()
    m.update(torch.tensor([1.0, 2.0]))
    assert m.sync() is m and float(m.compute()) == 1.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x = torch.arange(10, dtype=torch.float64)
        m = CatMax()
        m.update(x[:4] if rank == 0 else x[4:])
        m.sync()
        with pytest.raises(RuntimeError):
            m.sync()
        y, s, g = _group_rows()
        lo, hi = (0, 23) if rank == 0 else (23, 60)
        gm = GroupMetrics(3, ["accuracy", "tpr", "auroc", "ece"])
        gm.update(y[lo:hi], y_score=s[lo:hi], groups=g[lo:hi])
        gm.sync()
        rep = gm.compute()
        torch.save({**m.compute(), "auroc": rep.by_group["auroc"], "ece": rep.by_group["ece"],
                    "tpr": rep.by_group["tpr"]}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _group_rows():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(60, generator=g) < 0.4).long()
    s = torch.rand(60, generator=g).double()
    return y, s, torch.randint(0, 3, (60,), generator=g)


def test_sync_two_process_gloo(tmp_path) -> None:
    out = str(tmp_path / "res")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    ref = CatMax()
    ref.update(torch.arange(10, dtype=torch.float64))
    y, s, g = _group_rows()
    gm = GroupMetrics(3, ["accuracy", "tpr", "auroc", "ece"])
    gm.update(y, y_score=s, groups=g)
    rep = gm.compute()
    expected = {**ref.compute(), "auroc": rep.by_group["auroc"], "ece": rep.by_group["ece"], "tpr": rep.by_group["tpr"]}
    for rank in range(2):
        got = torch.load(f"{out}.{rank}")
        for k, v in expected.items():
            torch.testing.assert_close(got[k], v)


# --------------------------------------------------------------------------- settings and sync


def _sync_worker(rank: int, world: int, port: int, out: str) -> None:
    """Rank r holds shard r; group vocabularies listed in different orders; rank 1 of the cat metric
    holds nothing; a settings mismatch must raise on both ranks (no rank left waiting)."""
    import warnings

    from fastxai.eval.errors import InputError
    from fastxai.eval.groups import GroupMetricWarning

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    res = {}
    try:
        y, s, g = _group_rows()
        lo, hi = (0, 23) if rank == 0 else (23, 60)
        labels = [(0,), (1,), (2,)] if rank == 0 else [(2,), (0,), (1,)]
        where = {lab[0]: i for i, lab in enumerate(labels)}
        codes = torch.tensor([where[int(c)] for c in g[lo:hi]])
        gm = GroupMetrics(labels, ["accuracy", "selection_rate", "ece", "auroc"])
        gm.update(y[lo:hi], y_score=s[lo:hi], groups=codes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GroupMetricWarning)
            rep = gm.sync().compute()
        order = [labels.index((k,)) for k in range(3)]
        res.update({k: rep.by_group[k][order] for k in ("accuracy", "selection_rate", "ece", "auroc")})
        c = CatMax()
        if rank == 0:
            c.update(torch.arange(5, dtype=torch.float64))
        c.sync()
        res["vals"] = c.compute()["vals"]
        bad = MeanMetric(shape=(2,)) if rank == 0 else MeanMetric(shape=(3,))
        try:
            bad.sync()
        except InputError as err:
            res["error"] = str(err)
        pg = fe.PointingGame(variant="quantus" if rank == 0 else "saporta")
        try:
            pg.sync()
        except InputError as err:
            res["error_variant"] = str(err)
        torch.save(res, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_sync_by_label_tensor_gather_and_settings_check(tmp_path) -> None:
    out = str(tmp_path / "sync")
    mp.spawn(_sync_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    y, s, g = _group_rows()
    gm = GroupMetrics(3, ["accuracy", "selection_rate", "ece", "auroc"])
    gm.update(y, y_score=s, groups=g)
    rep = gm.compute()
    for rank in range(2):
        got = torch.load(f"{out}.{rank}")
        for k in ("accuracy", "selection_rate", "ece", "auroc"):
            torch.testing.assert_close(got[k], rep.by_group[k])
        torch.testing.assert_close(got["vals"], torch.arange(5, dtype=torch.float64))
        assert "'shape'" in got["error"]
        assert "'variant'" in got["error_variant"]


def test_sync_never_unpickles() -> None:
    """The sync module has no object collective left (the trust boundary is tensors only)."""
    import inspect

    import fastxai.eval.state as state_mod
    import fastxai.eval.sync as sync_mod

    for mod in (state_mod, sync_mod):
        src = inspect.getsource(mod)
        for token in ("_object(", "_object_list(", "import pickle", "pickle.loads"):
            assert token not in src, (mod.__name__, token)


LOCALISATION = [  # (factory, options of the first, options of the second, setting named)
    (fe.PointingGame, {}, {"variant": "saporta"}, "variant"),
    (fe.PointingGame, {"variant": "torchray"}, {"variant": "torchray", "tolerance": 5}, "tolerance"),
    (fe.PointingGame, {}, {"image_size": (8, 8)}, "image_size"),
    (fe.EnergyPointingGame, {}, {"channel_reduction": "abs_sum"}, "channel_reduction"),
    (fe.RelevanceMassAccuracy, {}, {"sign": "abs"}, "sign"),
    (fe.RelevanceRankAccuracy, {}, {"sign": "positive"}, "sign"),
    (fe.TopKIntersection, {}, {"k": 10}, "k"),
    (fe.TopKIntersection, {}, {"concept_influence": True}, "concept_influence"),
    (fe.AttributionLocalisation, {}, {"eps": 0.0}, "eps"),
    (fe.HeatmapAUROC, {}, {"sign": "abs"}, "sign"),
    (lambda **o: fe.OverlapAtThresholds((0.5,), **o), {}, {"normalise": "none"}, "normalise"),
    (lambda **o: fe.OverlapAtThresholds((0.5,), **o), {}, {"strict": False}, "strict"),
    (lambda **o: fe.OverlapAtThresholds((0.5,), **o), {}, {"measure": "dice"}, "measure"),
    (lambda **o: fe.OverlapAtThresholds(**o), {"thresholds": (0.5,)}, {"thresholds": (0.6,)}, "thresholds"),
    (lambda **o: fe.OverlapAtTopK(**o), {"percents": (5.0,)}, {"percents": (10.0,)}, "percents"),
    (lambda **o: fe.OverlapAtTopK((5.0,), **o), {}, {"true_pos_only": True}, "true_pos_only"),
    (fe.MeanIoU, {}, {"threshold": 0.3}, "threshold"),
    (fe.MeanIoU, {"threshold": "otsu"}, {"threshold": "otsu", "fill_holes": False}, "fill_holes"),
    (MeanMetric, {"shape": (2,)}, {"shape": (3,)}, "shape"),
]


@pytest.mark.parametrize("make,first,second,name", LOCALISATION)
def test_merge_refuses_each_localisation_setting_by_name(make, first, second, name) -> None:
    from fastxai.eval.errors import InputError

    with pytest.raises(InputError, match=f"'{name}'"):
        make(**first).merge(make(**second))
    make(**first).merge(make(**first))


def test_default_and_explicit_settings_merge_and_unknown_or_batch_dependent_options_fail() -> None:
    from fastxai.eval.errors import InputError

    fe.PointingGame().merge(fe.PointingGame(variant="quantus", tolerance=15.0))
    with pytest.raises(InputError, match="unknown option"):
        fe.TopKIntersection(kk=3)
    with pytest.raises(InputError, match="quantus_compat"):
        fe.RelevanceMassAccuracy(quantus_compat=True)


hyp = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

STREAMING = [
    lambda: fe.PointingGame(), lambda: fe.PointingGame(variant="saporta"),
    lambda: fe.PointingGame(variant="torchray", tolerance=2.0), lambda: fe.EnergyPointingGame(),
    lambda: fe.RelevanceMassAccuracy(), lambda: fe.RelevanceRankAccuracy(), lambda: fe.TopKIntersection(k=5),
    lambda: fe.AttributionLocalisation(), lambda: fe.HeatmapAUROC(),
    lambda: fe.OverlapAtThresholds((0.2, 0.5, 0.9)), lambda: fe.OverlapAtTopK((10.0, 50.0)),
    lambda: fe.MeanIoU(0.4), lambda: fe.MeanIoU("otsu"),
]


@st.composite
def heatmap_data(draw):
    n = draw(st.integers(1, 9))
    h, w = draw(st.integers(6, 11)), draw(st.integers(6, 11))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    maps = torch.randn(n, h, w, generator=g, dtype=torch.float64).round(decimals=draw(st.sampled_from([0, 3])))
    x0 = torch.randint(0, w - 2, (n,), generator=g).double()
    y0 = torch.randint(0, h - 2, (n,), generator=g).double()
    boxes = torch.stack([x0, y0, x0 + 3, y0 + 2], 1)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=3))))
    return draw(st.integers(0, len(STREAMING) - 1)), maps.to(dtype), boxes, cuts


@hyp.settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(hyp.HealthCheck))
@hyp.given(heatmap_data())
def test_localisation_states_batches_shards_pickle_equal_one_update(data) -> None:
    import warnings

    k, maps, boxes, cuts = data
    make = STREAMING[k]
    n = maps.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = make()
        whole.update(maps, boxes)
        ref = whole.compute()
        cuts = [0, *cuts, n]
        merged, batched = make(), make()
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            batched.update(maps[lo:hi], boxes[lo:hi])
            shard = make()
            shard.update(maps[lo:hi], boxes[lo:hi])
            merged.merge(pickle.loads(pickle.dumps(shard)))
    for m in (batched, merged, pickle.loads(pickle.dumps(batched))):
        torch.testing.assert_close(m.compute(), ref, rtol=1e-12, atol=1e-12, equal_nan=True)
        assert torch.equal(m.count, whole.count) and torch.equal(m.nan_count, whole.nan_count)
