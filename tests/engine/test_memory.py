"""fastxai.engine.memory: available memory, the default bound and the process's memory marks."""
import subprocess
import sys

import pytest
import torch

from fastxai.engine import memory


@pytest.fixture(autouse=True)
def _fresh() -> None:
    memory.forget()
    yield
    memory.forget()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_linux_readings_are_plausible() -> None:
    avail = memory.available_bytes(torch.device("cpu"))
    total = memory._sysconf_available()  # SC_AVPHYS_PAGES: free pages, at most physical memory
    assert avail is not None and 0 < avail
    assert total is not None and total > 0
    used, peak = memory.memory_mark(torch.device("cpu"))
    assert 0 < used <= peak
    # A 64 MiB allocation must show in the marks. Checked in a fresh process: in this one, free
    # heap left by earlier tests may already be resident and take the allocation (no RSS growth).
    code = (
        "import torch\nfrom fastxai.engine import memory\n"
        "used, _ = memory.memory_mark()\n"
        "big = torch.ones(64 << 20, dtype=torch.uint8)\n"
        "used2, peak2 = memory.memory_mark()\n"
        "print(used, used2, peak2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    used, used2, peak2 = map(int, out.stdout.split())
    assert used2 >= used + (60 << 20) and peak2 >= used2


def test_the_bound_is_a_fraction_and_never_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 1 << 30)
    monkeypatch.delenv("FASTXAI_MEMORY_FRACTION", raising=False)
    assert memory.default_memory_bound() == 1 << 28
    memory.forget()
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 1 << 20)  # nearly full
    assert memory.default_memory_bound() == memory.MIN_BOUND


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "lots"])
def test_a_bad_fraction_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FASTXAI_MEMORY_FRACTION", raw)
    with pytest.raises(ValueError, match="FASTXAI_MEMORY_FRACTION"):
        memory.memory_fraction()


def test_readings_are_reused_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: calls.append(1) or 1 << 30)
    memory.default_memory_bound()
    memory.default_memory_bound()
    assert len(calls) == 1  # /proc/meminfo is not read on every call
    memory.forget()
    memory.default_memory_bound()
    assert len(calls) == 2


def test_other_devices_have_no_reading() -> None:
    assert memory.available_bytes(torch.device("meta")) is None
    assert memory.memory_mark(torch.device("meta")) is None


def test_unknown_available_memory_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: None)
    monkeypatch.setattr(memory, "_warned", set())
    with pytest.warns(UserWarning, match="cannot tell how much memory"):
        assert memory.default_memory_bound(torch.device("cpu")) == memory.FALLBACK_BYTES
