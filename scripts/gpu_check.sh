#!/usr/bin/env bash
# Issue 14's checks that need a CUDA GPU, on a machine with one and with PyTorch for CUDA in
# python3 (the GPU machine the `device` tool lends; CI never runs this):
#  1. scripts/gpu_waves_measure.py: ResNet-50's latency per batch size (eager and CUDA-graph
#     replay), per convolution and batch size, and each kernel's grid (runs while 2 builds);
#  2. builds autoscale-worker and worker_bench against python3's libtorch (CUDA);
#  3. worker_bench --tail-aware: plain dynamic batching against tail-aware batching on CUDA, per
#     MODEL:CLIENTS of RUNS (default ResNet-50 at 16 and 64 clients); the tail-aware worker prints
#     the latency per batch size it measured through libtorch at load and the sizes it prefers,
#     the plain one what warming its batch sizes cost.
# Everything goes to OUT (default: ./gpu-check-out).
#
# Where the machine has no Debian packages, DEBS names a folder of .deb files (libyaml-cpp-dev,
# libspdlog-dev, libfmt-dev, nlohmann-json3-dev, libcli11-dev, libboost1.74-dev,
# libbenchmark-dev and their libraries, as `apt-get download` saves them on Debian 12); they are
# unpacked under /tmp/autoscale-debs and found from there.
#
# Usage: scripts/gpu_check.sh   (env: OUT, DEBS, SECONDS_PER_CONFIG=20, MAX_BATCH=64,
#                                DELAY_US=2000, RUNS="resnet50:16 resnet50:64", ROUNDS=2,
#                                JOBS=$(nproc),
#                                SKIP_PY=1)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$root/gpu-check-out}"
mkdir -p "$out"
seconds="${SECONDS_PER_CONFIG:-20}"
max_batch="${MAX_BATCH:-64}"
delay_us="${DELAY_US:-2000}"
runs="${RUNS:-resnet50:16 resnet50:64}"
jobs="${JOBS:-$(nproc)}"
t0=$(date +%s)
stamp() { echo "[gpu_check +$(($(date +%s) - t0)) s] $*"; }
# Runs "$@" on the CPUs in $1 where taskset exists.
pin() {
  local cpus="$1"
  shift
  if command -v taskset >/dev/null; then taskset -c "$cpus" "$@"; else "$@"; fi
}

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv \
  >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
prefix=""
if [[ -n "${DEBS:-}" ]]; then
  prefix=/tmp/autoscale-debs
  mkdir -p "$prefix"
  for f in "$DEBS"/*.deb; do dpkg-deb -x "$f" "$prefix" 2>/dev/null ||
    (cd "$prefix" && ar p "$f" data.tar.xz | tar xJ); done
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
stamp "torch $(python3 -c 'import torch; print(torch.__version__)') at $torch_prefix"

# 1 (in the background, on two cores of its own) and 2 (on the rest).
py_pid=""
if [[ -z "${SKIP_PY:-}" ]]; then
  PYTHONUNBUFFERED=1 pin 0,1 timeout "${PY_TIMEOUT:-300}" python3 "$root/scripts/gpu_waves_measure.py" \
    --out "$out/resnet50_gpu.json" >"$out/measure.log" 2>&1 &
  py_pid=$!
fi
build=/tmp/autoscale-gpu-build
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTOSCALE_WITH_TORCH=ON \
  -DAUTOSCALE_BUILD_TESTS=OFF "-DCMAKE_PREFIX_PATH=${prefix:+$prefix/usr;}$torch_prefix" \
  >"$out/build.log" 2>&1
stamp "configured: rc=$?"
pin 2-$(($(nproc) - 1)) ninja -C "$build" -k 0 -j"$jobs" autoscale-worker worker_bench \
  >>"$out/build.log" 2>&1
build_rc=$?
stamp "built: rc=$build_rc"
grep -E "error|Error" "$out/build.log" | head -40
if [[ -n "$py_pid" ]]; then
  wait "$py_pid"
  stamp "measure: rc=$? $(tail -n 1 "$out/measure.log")"
fi
[[ $build_rc -eq 0 ]] || exit 1

# 3. One run per MODEL:CLIENTS; each alternates plain and tail-aware workers in ROUNDS rounds.
for run in $runs; do
  model="${run%%:*}"
  c="${run##*:}"
  stamp "worker_bench --model $model --clients $c"
  timeout "${BENCH_TIMEOUT:-200}" "$build/bench/worker_bench" --model "$model" --tail-aware \
    --clients "$c" --threads 4 --max-batch-size "$max_batch" --max-queue-delay-us "$delay_us" \
    --io-threads 8 --client-threads 8 --seconds "$seconds" --rounds "${ROUNDS:-2}" 2>&1 |
    tee "$out/worker_bench_${model}_$c.txt"
done
stamp "done"
