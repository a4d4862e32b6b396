#!/usr/bin/env bash
# Quick start, command 2: the whole test suite (installs the test extras into ./.venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
. .venv/bin/activate
python -m pytest -q "$@"
