"""benches/gpu_check.sh keeps working: its tiny mode runs every Triton kernel under the CPU
interpreter against its torch reference, and the GPU table's code on CPU tensors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="bash script")
def test_gpu_check_tiny_under_the_interpreter(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", FASTXAI_GPU_CHECK_PYTHON=sys.executable,
               FASTXAI_GPU_CHECK_NO_BUILD="1")
    env.pop("FASTXAI_BACKEND", None)
    proc = subprocess.run(["bash", str(REPO / "benches" / "gpu_check.sh"), str(tmp_path), "--tiny", "--device", "cpu",
                           "--budget", "0"],  # no time budget: the outcome must not depend on load
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    kernels = (tmp_path / "kernels.md").read_text()
    assert "**FAIL**" not in kernels and "ERROR" not in kernels
    assert "(all)." in kernels  # every launcher in fastxai.kernels ran
    for op in ("ablate_by_id", "occlude_boxes", "blend_coalitions", "coalition_keys", "philox_uniform",
               "rise_masks", "ig_interpolate", "ig_weighted_sum", "heatmap_stats", "overlap_thresholds",
               "topk_hits"):
        assert op in kernels
    table = (tmp_path / "table.md").read_text()
    for case in ("RISE", "Occlusion", "IntegratedGradients", "KernelShap"):
        assert f"| {case}" in table and "skipped" not in table
    assert "captum" in table
    assert "Kernel checks: all passed" in (tmp_path / "summary.md").read_text()


def test_a_failing_kernel_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison really compares: a wrong result fails, an untouched launcher is named."""
    sys.path.insert(0, str(REPO / "benches"))
    import torch

    import gpu_check_kernels as gk

    ok, same, diff = gk._compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), exact=True)
    assert not ok and not same and diff == 0.5
    ok, same, _ = gk._compare(torch.tensor([1.0, 2.0], dtype=torch.float64),
                              torch.tensor([1.0, 2.0 + 1e-9], dtype=torch.float64), exact=False)
    assert ok and not same
    ok, same, _ = gk._compare((torch.tensor([1, 2]),), (torch.tensor([1, 2]),), exact=True)
    assert ok and same
    monkeypatch.setattr(gk, "_ablate", lambda dev, g, big: [])  # drop a case group
    monkeypatch.setattr(gk, "_random", lambda dev, g, big: [])
    monkeypatch.setattr(gk, "_ig", lambda dev, g, big: [])
    monkeypatch.setattr(gk, "_eval", lambda dev, g, big: [])
    import fastxai.kernels as kpkg  # noqa: F401  (needs triton importable)

    import fastxai.kernels.ablate as ka

    before = ka.ablate_by_id
    lines, ok = gk.run_checks("cpu", 0, big=False)
    assert ka.ablate_by_id is before  # the counting wrappers are removed again
    assert not ok and "not exercised" in "\n".join(lines) and "ablate.ablate_by_id" in "\n".join(lines)
