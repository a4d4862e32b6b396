#!/usr/bin/env bash
# Create ./.venv (if needed) and install fastxai into it, editable, with its compiled kernels.
# Usage: scripts/bootstrap.sh [base|test]   ("test" adds the test/bench extras: captum, quantus, ...)
# Re-installs only when the build inputs (setup.py, pyproject.toml, csrc/) or the extras change.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-base}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
. .venv/bin/activate
stamp_hash=$(cat setup.py pyproject.toml csrc/* 2>/dev/null | sha256sum | cut -c1-16)
stamp=".venv/.fastxai-${extras}-${stamp_hash}"
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch is pinned here (a CPU build on this machine kind), never in the package metadata.
  python -m pip install -q "torch==${FASTXAI_TORCH_VERSION:-2.13.0}" "setuptools>=77" wheel "pybind11>=2.12"
  if [ "$extras" = "test" ]; then
    python -m pip install -q --no-build-isolation -e ".[test]"
  else
    python -m pip install -q --no-build-isolation -e .
  fi
  python - <<'PY'
import fastxai._C  # fail the bootstrap loudly if the C++ kernels did not build
PY
  rm -f .venv/.fastxai-"${extras}"-*
  touch "$stamp"
fi
