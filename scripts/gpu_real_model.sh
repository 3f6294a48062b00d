#!/usr/bin/env bash
# The paper's loop on SmolLM2-135M-Instruct on one GPU, in two device calls, the second
# started within 30 s of the first's end (the machine is released after 30 s idle;
# docs/gpu.md); the GGUF file travels in two halves made here by scripts/split_gpu_model.sh.
# The run call fits a 600 s call: results are written to $OUT as they come.
#   bash scripts/gpu_real_model.sh stash   # call 1: carry .gpu_model/manifest.json + half 1
#   bash scripts/gpu_real_model.sh run     # call 2: carry .whl, the manifest + half 2
#   bash scripts/gpu_real_model.sh --cpu   # both at toy size on the CPU (what CI runs)
# Writes benchmarks/results/gpu_real_model.json and, where $OUT is set, copies it and the log.
set -uo pipefail
cd "$(dirname "$0")/.."
export RLFT_CHECK_STARTED=${RLFT_CHECK_STARTED:-$(date +%s)}  # the call's budget counts the install
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
case "${1:-}" in
  stash | --cpu) exec python3 benchmarks/gpu_real_model.py "$@" ;;
  run) shift ;;
  *) echo "usage: $0 stash | run [--train-s S] | --cpu" >&2; exit 2 ;;
esac
export DS_ACCELERATOR=cuda
if ! timeout 150 bash scripts/gpu_install.sh; then
  echo "gpu_real_model: the install failed" >&2
  exit 1
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
work=/tmp/rlft-real-model
rm -rf "$work"
python3 benchmarks/gpu_real_model.py run --work "$work" "$@"
status=$?
if [ -n "${OUT:-}" ]; then
  cp benchmarks/results/gpu_real_model.json "$work"/train.log "$OUT"/ 2>/dev/null
fi
exit $status
