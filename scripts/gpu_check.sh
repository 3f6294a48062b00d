#!/usr/bin/env bash
# The GPU check in one device call (docs/gpu.md): installs the carried wheels (.whl/) and
# rlft, then runs benchmarks/gpu_check.py: the gpu-marked tests, a throughput table for three
# model shapes and a short `deepspeed python/rlft/train.py` run, in under 8 minutes on one
# H200. Writes benchmarks/results/gpu.json and, where the device tool sets $OUT, copies it and
# the logs there.
#   bash scripts/gpu_check.sh          # on the GPU machine
#   bash scripts/gpu_check.sh --cpu    # the CPU twin at toy sizes (what CI runs); installs nothing
set -uo pipefail
cd "$(dirname "$0")/.."
export RLFT_CHECK_STARTED=${RLFT_CHECK_STARTED:-$(date +%s)}  # the budget counts the install
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
if [ "${1:-}" = "--cpu" ]; then
  exec python3 benchmarks/gpu_check.py "$@"
fi
export DS_ACCELERATOR=cuda
if ! timeout 150 bash scripts/gpu_install.sh; then
  echo "gpu_check: the install failed" >&2
  exit 1
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
work=/tmp/rlft-gpu-check
rm -rf "$work"
python3 benchmarks/gpu_check.py --work "$work" "$@"
status=$?
if [ -n "${OUT:-}" ]; then
  cp benchmarks/results/gpu.json "$work"/*.log "$work"/*.xml "$OUT"/ 2>/dev/null
fi
exit $status
