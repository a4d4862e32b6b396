"""Run a snippet in a subprocess with ``TRITON_INTERPRET=1`` (it must be set before triton is
imported, and the rest of the test session runs without it)."""
import os
import subprocess
import sys
import textwrap

import pytest


def run_interpreted(code: str, timeout: int = 3600) -> str:
    """Execute ``code`` under the Triton CPU interpreter; returns stdout, fails the test on error.
    The timeout only guards against a hung subprocess: generous, so load never fails a test."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", FASTXAI_BACKEND="triton")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"interpreted Triton snippet failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout
