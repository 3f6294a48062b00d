#!/usr/bin/env bash
# Fills .whl/ (ignored by git) with the wheels the GPU machine lacks: those named in
# requirements/gpu_wheels.txt for CPython 3.12 on manylinux x86_64, and deepspeed, which is
# published as an sdist only, built here into a pure-Python wheel (its ops compile at run time
# when used; rlft uses none). Prints their total size and the repository's, which travel
# together in one device call (at most 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.whl
rm -rf "$out"
mkdir -p "$out"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "$out" -r requirements/gpu_wheels.txt
# No build isolation: the build would otherwise fetch an unpinned torch (a CUDA build of
# several GB). DS_BUILD_OPS=0: nothing is compiled ahead of time.
DS_BUILD_OPS=0 python3 -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation -w "$out" deepspeed==0.19.8
ls -l "$out"
wheels=$(du -cb "$out"/*.whl | tail -1 | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
echo "wheels: $wheels bytes; tracked files: $tracked bytes;" \
  "together $((wheels + tracked)) of the 67108864 (64 MiB) one call carries"
