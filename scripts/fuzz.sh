#!/usr/bin/env bash
# Builds the KServe message fuzzer with clang (libFuzzer + ASan + UBSan) in build-fuzz and runs
# it for SECONDS (default 60) over a copy of the seed corpus fuzz/corpus/kserve_request; the
# source corpus is never written. New inputs collect in build-fuzz/corpus/kserve_request, crash
# reproducers in build-fuzz/artifacts/. Exits non-zero when the fuzzer finds a crash.
#
# Usage: scripts/fuzz.sh [SECONDS]     (env: JOBS, default 2; CXX, default clang++-15 or -14)
# Reproduce a crash: build-fuzz/fuzz/kserve_request_fuzz build-fuzz/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${JOBS:-2}"
root="$(pwd)"
build="$root/build-fuzz"

if [[ -z "${CXX:-}" ]]; then
  for v in 15 14; do
    if command -v "clang++-$v" > /dev/null; then
      CXX="clang++-$v"
      CC="clang-$v"
      break
    fi
  done
fi
if [[ -z "${CXX:-}" ]]; then
  echo "fuzz.sh: no clang++-15 or clang++-14 found (libFuzzer needs clang)" >&2
  exit 2
fi

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g" \
  -DAUTOSCALE_BUILD_FUZZERS=ON -DAUTOSCALE_BUILD_TESTS=OFF -DAUTOSCALE_BUILD_BENCHMARKS=OFF \
  -DAUTOSCALE_WITH_TORCH=OFF -DAUTOSCALE_WITH_OPENCL=OFF > "$build/cmake.log" ||
  { cat "$build/cmake.log" >&2; exit 2; }
cmake --build "$build" --target kserve_request_fuzz -j "$jobs"

# Symbolised sanitizer reports: the versioned llvm-symbolizer is often the only one installed.
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]]; then
  for s in llvm-symbolizer-15 llvm-symbolizer-14 llvm-symbolizer; do
    if p="$(command -v "$s")"; then
      export ASAN_SYMBOLIZER_PATH="$(readlink -f "$p")"
      break
    fi
  done
fi
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

corpus="$build/corpus/kserve_request"
artifacts="$build/artifacts/"
mkdir -p "$corpus" "$artifacts"
cp "$root"/fuzz/corpus/kserve_request/* "$corpus"/
log="$build/kserve_request_fuzz.log"
set +e
"$build/fuzz/kserve_request_fuzz" "$corpus" -dict="$root/fuzz/kserve.dict" \
  -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$artifacts" 2> "$log"
rc=$?
set -e
grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" || true
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
if [[ $rc -ne 0 ]]; then
  tail -n 60 "$log" >&2
  echo "fuzz.sh: the fuzzer failed (exit $rc); reproducers in $artifacts; log in $log" >&2
  exit "$rc"
fi
echo "fuzz.sh: no crash in ${seconds} s; log in $log"
