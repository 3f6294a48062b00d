#!/usr/bin/env bash
# On the GPU machine: the carried wheels into /tmp/site (put it on PYTHONPATH afterwards),
# then rlft built from this checkout. Shared by gpu_check.sh and gpu_real_model.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls .whl/*.whl > /dev/null 2>&1; then
  echo "no .whl/*.whl here: run scripts/fetch_gpu_wheels.sh and carry .whl" >&2
  exit 1
fi
if ! command -v c++ > /dev/null; then
  echo "no C++ compiler (c++) on this machine: rlft's extension cannot be built" >&2
  exit 1
fi
python3 -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
  --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
PYTHONPATH=/tmp/site python3 -m pip install -q --disable-pip-version-check \
  --no-build-isolation --no-deps .
PYTHONPATH=/tmp/site python3 -c "import deepspeed, gymnasium, rlft._core
print('installed: rlft', rlft._core.__file__, '| deepspeed', deepspeed.__version__)"
