#!/usr/bin/env bash
# Quick start, command 1: the demo benchmark and its reports.
# Installs fastxai with the `report` extra into ./.venv, then benchmarks 7 attribution methods plus
# the trivial baselines on (1) synthetic lesion X-rays with a planted shortcut, group gap and
# imbalance and (2) 300 bundled NIH ChestX-ray14 images with radiologist boxes; models train on the
# first run and are cached. Reports: fastxai_out/runs/{synthetic,nih}/report.html.
# Extra arguments go to `fastxai demo` (e.g. --data PATH for a full dataset, --only synthetic).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh report
. .venv/bin/activate
start=$(date +%s)
fastxai demo --out fastxai_out "$@"
echo "demo wall time after install: $(( $(date +%s) - start )) s"
