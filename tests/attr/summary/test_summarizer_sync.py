"""Summarizer.sync across two gloo ranks equals one summarizer over all rows."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import fastxai.attr as fa
from tests.attr.summary.test_summarizer import _stats, assert_summary_close


def _rows():
    g = torch.Generator().manual_seed(0)
    return torch.randn(20, 3, generator=g).double(), torch.randint(-4, 4, (20, 2), generator=g)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x, z = _rows()
        both = fa.Summarizer(_stats(fa))
        for i in (range(0, 7) if rank == 0 else range(7, 20)):
            both.update((x[i], z[i]))
        only0 = fa.Summarizer(_stats(fa))
        if rank == 0:  # rank 1 saw nothing
            only0.update_batch((x, z))
        torch.save({"both": both.sync().summary, "only0": only0.sync().summary}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_sync_two_process_gloo(tmp_path):
    out = str(tmp_path / "res")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    x, z = _rows()
    ref = fa.Summarizer(_stats(fa))
    ref.update_batch((x, z))
    for rank in range(2):
        got = torch.load(f"{out}.{rank}", weights_only=False)
        assert_summary_close(got["both"], ref.summary, precise=True)
        assert_summary_close(got["only0"], ref.summary, precise=True)


def test_sync_without_process_group_and_class_summarizer():
    s = fa.Summarizer([fa.Mean()])
    s.update(torch.ones(2))
    assert s.sync() is s and s.summary["mean"].tolist() == [1.0, 1.0]
    with pytest.raises(NotImplementedError, match="merge"):
        fa.ClassSummarizer([fa.Mean()]).sync()
