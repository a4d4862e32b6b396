#!/usr/bin/env bash
# The prepared GPU check of issue 16, for one lent GPU (H100 / H200, CUDA torch and Triton
# preinstalled, no package registry): builds fastxai._C against that machine's python, runs every
# Triton kernel compiled for real against its torch reference, then measures the GPU table
# (RISE 4,000 masks at 224^2, Occlusion, IG n_steps=50, KernelShap n=512 on a ResNet-18-style
# net: fastxai vs Captum vs the floor, peak memory). Designed to finish in < 5 minutes.
#
#   bash benches/gpu_check.sh --prepare          # HERE, once: copies captum (pure Python) from
#                                                #   .venv into .gpu_carry/ (git-ignored) to carry
#   bash benches/gpu_check.sh [OUT_DIR] [args]   # THERE (device tool); OUT_DIR defaults to $OUT
#   TRITON_INTERPRET=1 bash benches/gpu_check.sh OUT_DIR --tiny --device cpu   # CI smoke test
#
# Device-tool call (see benches/RESULTS.md, "GPU check"): command
#   bash benches/gpu_check.sh
# with carry [".gpu_carry"] and timeout_s 420. Results: $OUT/summary.md, kernels.md, table.md,
# build.log. Extra args go to benches/gpu_check.py (--images, --reps, --budget, --skip-table).
set -uo pipefail
cd "$(dirname "$0")/.."
py="${FASTXAI_GPU_CHECK_PYTHON:-python3}"

if [ "${1:-}" = "--prepare" ]; then
  src=$(.venv/bin/python -c "import captum, os; print(os.path.dirname(captum.__file__))") || exit 1
  rm -rf .gpu_carry && mkdir -p .gpu_carry
  cp -r "$src" .gpu_carry/captum
  find .gpu_carry -name __pycache__ -type d -prune -exec rm -rf {} +
  echo "copied $(du -sh .gpu_carry | cut -f1) of captum into .gpu_carry/ (name it in the run's carry list)"
  exit 0
fi

out="${OUT:-benches/results/gpu}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out="$1"; shift; fi
mkdir -p "$out"
export PYTHONUNBUFFERED=1
# captum is only needed for the comparison columns: the carried copy, else carried wheels, else none
if ! "$py" -c "import captum" 2>/dev/null; then
  if [ -d .gpu_carry/captum ]; then
    export PYTHONPATH="$PWD/.gpu_carry${PYTHONPATH:+:$PYTHONPATH}"
  elif ls .whl/captum-*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --target /tmp/fastxai_site .whl/captum-*.whl \
      && export PYTHONPATH="/tmp/fastxai_site${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
# fastxai._C for this python (the CPU kernels; the GPU path does not need it, so a failed build
# is reported and the check goes on with the torch fallback)
if [ -z "${FASTXAI_GPU_CHECK_NO_BUILD:-}" ]; then
  t0=$(date +%s)
  jobs="$(nproc 2>/dev/null || echo 4)"
  # setup.py's extension, built in place without reading pyproject.toml (an older setuptools there
  # may reject its metadata); plain `setup.py build_ext` as a second try
  if "$py" benches/build_ext_inplace.py "$jobs" >"$out/build.log" 2>&1 \
     || "$py" setup.py -q build_ext --inplace -j "$jobs" >>"$out/build.log" 2>&1; then
    echo "built fastxai._C in $(( $(date +%s) - t0 )) s"
  else
    echo "WARNING: building fastxai._C failed (see $out/build.log); CPU ops use torch" >&2
    tail -5 "$out/build.log" >&2
  fi
fi
"$py" benches/gpu_check.py --out "$out" "$@"
