#!/usr/bin/env bash
# The test command: builds and runs the C++ GoogleTest suite with warnings as errors, then
# the pytest suite against the installed package. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DS_ACCELERATOR=cpu

build_dir=build/ctest
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRLFT_BUILD_TESTS=ON \
  -DRLFT_WERROR=ON -DRLFT_BUILD_PYTHON=OFF > "$build_dir.configure.log" 2>&1 \
  || { cat "$build_dir.configure.log"; exit 1; }
cmake --build "$build_dir" -j 2
ctest --test-dir "$build_dir" --output-on-failure -j 2

python3 -m pytest -q "$@"
