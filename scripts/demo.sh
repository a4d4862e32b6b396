#!/usr/bin/env bash
# Quick start, command 1: attributions on the built-in demo (summary + PNG overlays in ./fastxai_out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh base
. .venv/bin/activate
fastxai demo --out fastxai_out "$@"
