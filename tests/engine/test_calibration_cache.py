"""The on-disk chunk-size cache: location, opt-out, invalidation, atomic writes, corrupt files,
concurrent processes and a fresh process starting settled. Every test uses a temporary folder."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest
import torch
from torch import nn

from fastxai.engine import calibration_cache as disk
from fastxai.engine.batching import ChunkSizer, clear_cache, model_key

REPO = Path(__file__).resolve().parents[2]
BIG = 1 << 40


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "calib"
    monkeypatch.setenv("FASTXAI_CACHE_DIR", str(folder))
    monkeypatch.setenv("FASTXAI_CALIBRATION_CACHE", "1")
    monkeypatch.setattr(disk, "_warned", set())
    disk.set_enabled(None)
    clear_cache()
    yield folder
    clear_cache()


def _net(width: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(5, width), nn.ReLU(), nn.Linear(width, 2)).eval()


def _settle(model: nn.Module, x: torch.Tensor) -> ChunkSizer:
    """Run a search to its end on a fake cost with a per-call overhead (settles at 64)."""
    key = model_key(model, (x,), "forward")
    s = ChunkSizer(key, total_rows=10**6, row_bytes=1, max_memory=BIG)
    cost = lambda r: 0.02 + r * (1e-3 if r <= 64 else 3e-3)
    while s.calibrating:
        r = s.next_rows(10**6)
        s.record(r, cost(r))
    assert s.settled_rows == 64
    return s


def test_location_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTXAI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert disk.cache_dir() == tmp_path / "xdg" / "fastxai" / "calibration"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert disk.cache_dir() == Path.home() / ".cache" / "fastxai" / "calibration"
    monkeypatch.setenv("FASTXAI_CACHE_DIR", str(tmp_path / "here"))
    assert disk.cache_dir() == tmp_path / "here"


def test_a_settled_choice_is_written_and_read_back(cache: Path) -> None:
    model, x = _net(), torch.randn(3, 5)
    s = _settle(model, x)
    files = list(cache.glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["rows"] == 64 and data["format"] == disk.FORMAT
    assert data["key"]["shapes"] == [[5]] and data["key"]["mode"] == "forward"
    assert data["key"]["threads"] == torch.get_num_threads()
    clear_cache()  # as a new process: nothing in memory
    again = ChunkSizer(model_key(model, (x,), "forward"), 10**6, 1, max_memory=BIG)
    assert not again.calibrating and again.settled_rows == 64
    assert again.expected_seconds_per_row == pytest.approx(s.expected_seconds_per_row)


def test_the_key_is_the_architecture_not_the_object(cache: Path) -> None:
    x = torch.randn(3, 5)
    _settle(_net(), x)
    clear_cache()
    # another instance, other weights, same architecture: the same choice
    assert ChunkSizer(model_key(_net(), (x,), "forward"), 10**6, 1, max_memory=BIG).settled_rows == 64
    clear_cache()
    # another width, another input shape, dtype or mode: searched afresh
    assert ChunkSizer(model_key(_net(16), (x,), "forward"), 10**6, 1, max_memory=BIG).calibrating
    wide = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    assert ChunkSizer(model_key(wide, (torch.randn(3, 6),), "forward"), 10**6, 1, max_memory=BIG).calibrating
    m64 = _net().double()
    assert ChunkSizer(model_key(m64, (x.double(),), "forward"), 10**6, 1, max_memory=BIG).calibrating
    assert ChunkSizer(model_key(_net(), (x,), "backward"), 10**6, 1, max_memory=BIG).calibrating
    # a module hyper-parameter that changes the cost but no parameter shape: another key
    a = nn.Sequential(nn.Conv2d(1, 2, 3, stride=1))
    b = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2))
    assert disk.model_signature(a) != disk.model_signature(b)
    assert disk.model_signature(_net()) == disk.model_signature(_net())


def test_versions_machine_and_threads_invalidate(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = _net(), torch.randn(3, 5)
    _settle(model, x)

    def fresh() -> bool:
        clear_cache()
        return ChunkSizer(model_key(model, (x,), "forward"), 10**6, 1, max_memory=BIG).calibrating

    assert not fresh()
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert fresh()
    monkeypatch.undo()
    monkeypatch.setenv("FASTXAI_CACHE_DIR", str(cache))
    monkeypatch.setenv("FASTXAI_CALIBRATION_CACHE", "1")
    assert not fresh()
    import fastxai._version

    monkeypatch.setattr(fastxai._version, "__version__", "9.9.9")
    assert fresh()
    monkeypatch.setattr(fastxai._version, "__version__", __import__("fastxai").__version__)
    real = disk.machine_fingerprint
    monkeypatch.setattr(disk, "machine_fingerprint", lambda device: {"cpu": "another CPU"})
    assert fresh()
    monkeypatch.setattr(disk, "machine_fingerprint", real)
    assert not fresh()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert fresh()
    finally:
        torch.set_num_threads(threads)


def test_opt_out(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTXAI_CALIBRATION_CACHE", "off")
    _settle(_net(), torch.randn(3, 5))
    assert not cache.exists()
    monkeypatch.setenv("FASTXAI_CALIBRATION_CACHE", "1")
    disk.set_enabled(False)
    try:
        clear_cache()
        _settle(_net(), torch.randn(3, 5))
        assert not cache.exists()
    finally:
        disk.set_enabled(None)
    clear_cache()
    _settle(_net(), torch.randn(3, 5))
    assert len(list(cache.glob("*.json"))) == 1


@pytest.mark.parametrize("content", ["{not json", '{"format": 1, "key": ', "[1, 2]", "\x00\xff"])
def test_a_corrupt_file_is_ignored_with_a_warning(cache: Path, content: str) -> None:
    model, x = _net(), torch.randn(3, 5)
    _settle(model, x)
    (path,) = cache.glob("*.json")
    path.write_text(content, encoding="latin-1")
    clear_cache()
    with pytest.warns(UserWarning, match="calibration cache file"):
        s = ChunkSizer(model_key(model, (x,), "forward"), 10**6, 1, max_memory=BIG)
    assert s.calibrating  # searched afresh ...
    clear_cache()
    _settle(model, x)  # ... and the settled choice replaces the bad file
    assert json.loads(path.read_text())["rows"] == 64


@pytest.mark.parametrize("field, value", [
    ("rows", "many"), ("rows", 0), ("rows", 2.5), ("rows", True), ("rows", None), ("rows", float("inf")),
    ("per_row_s", float("nan")), ("per_row_s", -1e-3), ("per_row_s", "fast"),
    ("row_bytes", -8), ("row_bytes", [1]),
])
def test_a_malformed_entry_is_ignored_with_a_warning(cache: Path, field: str, value: object) -> None:
    model, x = _net(), torch.randn(3, 5)
    _settle(model, x)
    (path,) = cache.glob("*.json")
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))  # NaN / Infinity are written as Python's json writes them
    clear_cache()
    with pytest.warns(UserWarning, match="malformed"):
        assert ChunkSizer(model_key(model, (x,), "forward"), 10**6, 1, max_memory=BIG).calibrating


def test_an_unwritable_folder_warns_once_and_works(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = cache.parent / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("FASTXAI_CACHE_DIR", str(blocker / "sub"))  # a folder under a file
    with pytest.warns(UserWarning, match="cannot write"):
        _settle(_net(), torch.randn(3, 5))


def test_the_folder_is_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk, "MAX_FILES", 5)
    for i in range(9):
        disk.store({"i": i}, disk.Choice(8))
    assert len(list(cache.glob("*.json"))) <= 5
    assert disk.load({"i": 8}) == disk.Choice(8)  # the newest survive
    n = len(list(cache.glob("*.json")))
    assert disk.clear() == n and list(cache.glob("*.json")) == []


def test_prune_and_clear_leave_other_writers_temporary_files(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's file being written (temporary name) is neither pruned nor cleared, so
    its os.replace cannot fail half-way."""
    monkeypatch.setattr(disk, "MAX_FILES", 2)
    disk.store({"i": 0}, disk.Choice(8))
    in_flight = cache / ".tmp-other-process.part"
    in_flight.write_text("{")
    for i in range(1, 6):
        disk.store({"i": i}, disk.Choice(8))
    assert in_flight.exists()
    n = len(list(cache.glob("*.json")))
    assert 1 <= n <= 2 and disk.clear() == n  # the temporary file is not counted ...
    assert in_flight.exists() and list(cache.glob("*.json")) == []  # ... nor removed


def _writer(me: int, folder: str) -> None:
    """One of several processes hammering the same folder (forked: no new interpreter)."""
    import warnings

    os.environ["FASTXAI_CACHE_DIR"] = folder
    warnings.simplefilter("error")  # a half-written file would warn when read
    for i in range(150):
        disk.store({"shared": 1}, disk.Choice(8 + me, 1e-3, 100 + i))
        disk.store({"own": me}, disk.Choice(16 + me))
        got = disk.load({"shared": 1})
        if got is None or not 8 <= got.rows < 12:
            os._exit(3)
    os._exit(0)


@pytest.mark.skipif(sys.platform != "linux", reason="forks worker processes")
def test_concurrent_processes_never_see_half_a_file(cache: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(i, str(cache))) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert disk.load({"shared": 1}).rows in range(8, 12)
    assert [disk.load({"own": i}).rows for i in range(4)] == [16, 17, 18, 19]
    assert not list(cache.glob(".tmp-*"))  # no temporary file left behind


_FRESH = """
import sys, torch
from fastxai.engine.batching import ChunkSizer, model_key
from fastxai.attr import FeatureAblation
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(40, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)).eval()
x = torch.randn(16, 40)
key = model_key(net, (x,), "forward")
print("settled at start:", not ChunkSizer(key, 41 * 16, 1).calibrating)
calls = 0
while ChunkSizer(key, 41 * 16, 1).calibrating and calls < 40:
    FeatureAblation(net).attribute(x, target=0)
    calls += 1
print("settled after calls:", calls)
"""


def test_a_fresh_process_starts_settled(cache: Path) -> None:
    """Two processes search the same key at the same time and both write the file; a third
    starts settled from it (no warning, no temporary file left, one file for the one key)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="error::UserWarning")

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", textwrap.dedent(_FRESH)], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(proc: subprocess.Popen) -> str:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        return out

    pair = [start(), start()]
    runs: List[str] = [finish(p) for p in pair]
    # the folder was empty: at least one of them searched (the other may start after it wrote)
    assert any("settled at start: False" in out for out in runs), runs
    assert all("settled after calls: 40" not in out for out in runs), runs
    third = finish(start())
    assert "settled at start: True" in third and "settled after calls: 0" in third
    assert len(list(cache.glob("*.json"))) == 1
    assert not list(cache.glob(".tmp-*"))
