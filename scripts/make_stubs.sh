#!/usr/bin/env bash
# Regenerates python/rlft/_core.pyi from a build of the extension (default build/dev).
# Needs `pip install pybind11-stubgen`. tests/python/test_stubs.py checks they are in sync.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/dev}
out=$(mktemp -d)
RLFT_CORE_DIR="$build_dir" PYTHONPATH=python pybind11-stubgen rlft._core -o "$out" > /dev/null
cp "$out/rlft/_core.pyi" python/rlft/_core.pyi
rm -rf "$out"
echo "wrote python/rlft/_core.pyi"
