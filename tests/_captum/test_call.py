"""The call record: one normalisation step in, Captum's return forms out."""
import dataclasses

import pytest
import torch

from fastxai._captum.call import ABSENT, CallRecord, format_result, normalize_call
from fastxai._captum.errors import InputError, TargetError
from fastxai.engine.targets import Target


def test_record_fields_and_immutability():
    x, t = torch.randn(3, 2, 4), torch.randn(3, 5, dtype=torch.float64)
    rec = normalize_call((x, t), baselines=(0.5, torch.zeros(1, 5, dtype=torch.float64)), target=[0, 1, 2],
                         additional_forward_args=7, feature_mask=None, max_batch=4, show_progress=True, desc="d")
    assert isinstance(rec, CallRecord) and rec.is_tuple and rec.n == 3 and rec.device == x.device
    assert rec.baselines[0].shape == (1, 1, 1) and rec.baselines[0].dtype == x.dtype
    assert rec.captum_baselines[0] == 0.5  # user callbacks get Captum's form
    assert isinstance(rec.target, Target) and rec.target.captum == [0, 1, 2]
    assert rec.additional_args == (7,)
    ids = torch.cat([m.flatten() for m in rec.feature_masks])
    assert torch.equal(ids, torch.arange(8 + 5))  # global ids across inputs
    assert rec.options.max_batch == 4 and rec.options.show_progress and rec.options.desc == "d"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.inputs = ()
    other = rec.replace(inputs=(t,))
    assert other.inputs == (t,) and rec.inputs[0] is x


def test_absent_arguments_and_single_tensor_form():
    x = torch.randn(2, 3)
    rec = normalize_call(x)
    assert not rec.is_tuple and rec.baselines == () and rec.feature_masks is None and rec.target.captum is None
    assert format_result(rec, [x * 2]).shape == (2, 3)
    assert ABSENT is not None


def test_bad_arguments_are_named_before_any_forward():
    x = torch.randn(2, 3)
    with pytest.raises(InputError, match="inputs"):
        normalize_call((x, torch.randn(3, 3)))
    with pytest.raises(InputError, match=r"baselines\[0\]"):
        normalize_call(x, baselines=torch.zeros(5, 3))
    with pytest.raises(InputError, match="feature_mask"):
        normalize_call(x, feature_mask=torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(TargetError, match="target list has length 3"):
        normalize_call(x, target=[0, 1, 2])
    with pytest.raises(TargetError, match="integer"):
        normalize_call(x, target=torch.tensor([0.5, 1.0]))
    with pytest.raises(InputError, match="perturbations_per_eval"):
        normalize_call(x, perturbations_per_eval=0)
    with pytest.raises(InputError, match="max_memory"):
        normalize_call(x, max_memory=0)
    # sparse inputs (dim 0 not the batch) only where the method allows them
    rec = normalize_call((x, torch.tensor([3, 1, 4, 1])), sparse_inputs=True)
    assert rec.n == 2


def test_format_result_multi_target():
    x = torch.randn(2, 3)
    rec = normalize_call((x,), target=torch.tensor([[0, 1], [1, 0]]))
    assert rec.target.n_targets == 2
    out = format_result(rec, [torch.arange(12.0).reshape(4, 3)])
    assert isinstance(out, tuple) and out[0].shape == (2, 2, 3)
