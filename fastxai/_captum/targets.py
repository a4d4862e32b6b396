"""Captum's ``target`` forms: the implementation lives in :mod:`fastxai.engine.targets`
(one :class:`Target` type serves both loops); these names stay importable from here."""
from typing import List

from torch import Tensor

from fastxai.engine.targets import (  # noqa: F401
    Target,
    TargetType,
    expand_target,
    is_multi_target,
    select_targets,
    slice_target,
    target_index_tensor,
)

TargetSelector = Target  # the name the perturbation loop used first


def multi_target_columns(target: TargetType) -> List[Tensor]:
    """Split an (N, K) multi-target into K per-example target tensors of shape (N,)."""
    return Target(target).columns
