"""One Target type for both loops: Captum's forms, multi-targets, expansion and row slices."""
import pytest
import torch

from fastxai._captum.errors import TargetError
from fastxai.engine.targets import Target


def test_select_expand_and_rows_agree():
    out = torch.arange(24.0).reshape(8, 3)  # 4 copies of N = 2 rows
    for t in (1, torch.tensor(2), [0, 2], torch.tensor([2, 1]), None):
        tg = Target(t, n=2)
        full = tg.select(out, copies=4)
        parts = torch.cat([tg.select(out[r0:r1], copies=4, rows=(r0, r1)) for r0, r1 in [(0, 3), (3, 7), (7, 8)]])
        assert torch.equal(full, parts)
        expanded = tg.expand(4)
        per_row = isinstance(t, list) or (isinstance(t, torch.Tensor) and t.numel() > 1)
        if per_row:
            assert len(expanded) == 8
        else:
            assert expanded is t
    assert Target([0, 2]).expand(2, interleave=True) == [0, 0, 2, 2]
    assert Target([0, 1, 2, 0]).rows(1, 3) == [1, 2]


def test_multi_target_selects_k_columns():
    out = torch.arange(12.0).reshape(2, 6)
    tg = Target(torch.tensor([[0, 5], [1, 2]]), n=2)
    assert tg.multi and tg.n_targets == 2 and tg.captum is None
    assert torch.equal(tg.select(out), torch.tensor([[0.0, 5.0], [7.0, 8.0]]))
    with pytest.raises(Exception, match="multi-target"):
        tg.expand(2)
    assert Target.of(tg) is tg


def test_forms_are_checked_up_front_and_ranges_against_the_output():
    with pytest.raises(TargetError, match="length 3"):
        Target([0, 1, 2], n=2)
    with pytest.raises(TargetError, match="integer"):
        Target(torch.tensor([0.0]))
    with pytest.raises(TargetError, match="not supported"):
        Target("cat")
    with pytest.raises(TargetError, match="out of range"):
        Target(5).select(torch.zeros(2, 3))
    with pytest.raises(IndexError):
        Target([0, 7]).select(torch.zeros(2, 3))
