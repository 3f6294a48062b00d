#!/usr/bin/env bash
# Fast inner loop: builds rlft._core and the C++ tests into BUILD_DIR (default build/dev).
# Then:  RLFT_CORE_DIR=BUILD_DIR PYTHONPATH=python python3 -m pytest
#        ctest --test-dir BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/dev}
cmake -S . -B "$build_dir" -G Ninja -DRLFT_BUILD_TESTS=ON -DRLFT_WERROR=ON \
  -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" > /dev/null
cmake --build "$build_dir" -j 2
