"""Shared test configuration: deterministic seeds, one torch thread for speed stability."""
import atexit
import os
import shutil
import tempfile

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

# The on-disk chunk-size cache is off for the whole suite (forced, whatever the caller's
# environment says), and points at a fresh temporary folder, so no test reads a choice left by an
# earlier run nor writes into the user's ~/.cache. Tests of the cache turn it on explicitly, each
# in its own temporary folder (tests/engine/test_calibration_cache.py); subprocesses inherit both.
os.environ["FASTXAI_CALIBRATION_CACHE"] = "0"
os.environ["FASTXAI_CACHE_DIR"] = _CALIB_DIR = tempfile.mkdtemp(prefix="fastxai-test-calib-")
atexit.register(shutil.rmtree, _CALIB_DIR, True)
