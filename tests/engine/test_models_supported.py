"""Models the engine must accept: torch.compile'd modules; and memory caps are honoured."""
import torch
from torch import nn

from fastxai.attr import FeatureAblation, Occlusion
from fastxai.engine import batching


def test_torch_compiled_model_gives_the_same_attributions() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    compiled = torch.compile(net, backend="eager")
    x = torch.randn(4, 6)
    ref = FeatureAblation(net).attribute(x, target=1)
    got = FeatureAblation(compiled).attribute(x, target=1)
    torch.testing.assert_close(got, ref)


def test_max_memory_bounds_rows_per_forward() -> None:
    seen = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return x.flatten(1).sum(1, keepdim=True)

    x = torch.randn(2, 1, 16, 16)
    row_bytes = batching.estimate_row_bytes((x,), "forward")
    Occlusion(forward).attribute(x, (1, 2, 2), target=0, max_memory=10 * row_bytes)
    assert max(seen[1:]) <= 10  # seen[0] is the unperturbed forward (N rows)
    seen.clear()
    Occlusion(forward).attribute(x, (1, 2, 2), target=0, max_batch=6)
    assert max(seen[1:]) <= 6 and all(s % 2 == 0 for s in seen[1:])  # whole perturbations
