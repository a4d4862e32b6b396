"""Shared test configuration: deterministic seeds, one torch thread for speed stability."""
import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

# The test suite never writes chunk-size choices into the user's ~/.cache: tests of the on-disk
# calibration cache turn it on explicitly, in a temporary folder.
os.environ.setdefault("FASTXAI_CALIBRATION_CACHE", "0")
