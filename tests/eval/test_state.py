"""Metric-state base: merge/reset/pickle, and sync over a real 2-process gloo group."""
from __future__ import annotations

import os
import pickle
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

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
    with pytest.raises(ValueError):
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
