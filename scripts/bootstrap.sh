#!/usr/bin/env bash
# Create ./.venv (if needed) and install fastxai into it, editable, with its compiled kernels.
# Usage: scripts/bootstrap.sh [base|test|report|EXTRAS]   ("test" adds the test/bench extras: captum, quantus,
# ...; "report" what the demo and `fastxai report` need: the bench's deps, Jinja2, matplotlib)
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
# the test extras include everything the report / demo needs: no second (compiling) install
if [ "$extras" = "report" ] && [ -f ".venv/.fastxai-test-${stamp_hash}" ]; then
  exit 0
fi
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch is pinned here (a CPU build on this machine kind), never in the package metadata.
  python -m pip install -q "torch==${FASTXAI_TORCH_VERSION:-2.13.0}" "setuptools>=77" wheel "pybind11>=2.12"
  if [ "$extras" = "base" ]; then
    python -m pip install -q --no-build-isolation -e .
  else
    python -m pip install -q --no-build-isolation -e ".[$extras]"
  fi
  python - <<'PY'
import fastxai._C  # fail the bootstrap loudly if the C++ kernels did not build
PY
  rm -f .venv/.fastxai-"${extras}"-*
  touch "$stamp"
fi
