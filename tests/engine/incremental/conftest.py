"""These tests run many small ops: one torch thread avoids OpenMP hand-offs between them
(on a loaded 2-core machine each hand-off can wait for a descheduled thread)."""
from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
