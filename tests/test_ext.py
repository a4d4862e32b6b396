"""The compiled module: CI must have it; without it the package still imports, with a warning."""
import os
import subprocess
import sys

import fastxai
from fastxai import _ext
from fastxai.cli import main as cli_main


def test_compiled_module_present_in_ci() -> None:
    if os.environ.get("CI") or os.environ.get("FASTXAI_REQUIRE_CPP"):
        assert _ext.HAS_CPP, "fastxai._C did not build; CI must exercise the C++ kernels"


def test_import_without_compiled_module_warns_and_works() -> None:
    code = (
        "import sys, warnings\n"
        "sys.modules['fastxai._C'] = None  # makes 'from fastxai import _C' fail\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import fastxai, torch\n"
        "    from fastxai import _ext\n"
        "    from fastxai.attr import FeatureAblation\n"
        "assert not _ext.HAS_CPP\n"
        "assert any('fastxai._C' in str(x.message) for x in w), [str(x.message) for x in w]\n"
        "out = FeatureAblation(lambda t: t.sum(1, keepdim=True)).attribute(torch.ones(2, 3), target=0)\n"
        "assert torch.equal(out, torch.ones(2, 3)), out\n"
        "assert fastxai.active_backends()['cpp'] is False\n"
        "print('OK')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr


def test_cli_version_and_info(capsys) -> None:
    assert cli_main(["info"]) == 0
    out = capsys.readouterr().out
    assert fastxai.__version__ in out and "cpp" in out and "triton-interpreter" in out
