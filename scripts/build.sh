#!/usr/bin/env bash
# Configures and builds into build/ (Release) with every backend this machine can build: the
# libtorch CPU and DSP targets and the OpenCL target. Extra arguments go to cmake's configure step
# (e.g. -DAUTOSCALE_WITH_TORCH=OFF -DAUTOSCALE_WITH_OPENCL=OFF for the simulator alone).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAUTOSCALE_WITH_TORCH=ON -DAUTOSCALE_WITH_OPENCL=ON \
  "$@" >/dev/null
cmake --build build -j"$(nproc)"
