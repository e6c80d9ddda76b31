#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (libFuzzer + ASan + UBSan) in build-fuzz and runs each
# for SECONDS (default 60) over a copy of its seed corpus; the source corpora are never written:
#   kserve_request_fuzz  the KServe v2 message codec      fuzz/corpus/kserve_request, kserve.dict
#   http_request_fuzz    the HTTP server's request parsing fuzz/corpus/http_request, http.dict
# New inputs collect in build-fuzz/corpus/NAME, crash reproducers in build-fuzz/artifacts/NAME/.
# Exits non-zero when a fuzzer finds a crash.
#
# Usage: scripts/fuzz.sh [SECONDS]     (env: JOBS, default 2; CXX, default clang++-15 or -14;
#                                       FUZZERS, default "kserve_request http_request")
# Reproduce a crash: build-fuzz/fuzz/NAME_fuzz build-fuzz/artifacts/NAME/crash-...
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
fuzzers="${FUZZERS:-kserve_request http_request}"
targets=()
for f in $fuzzers; do targets+=("${f}_fuzz"); done
cmake --build "$build" --target "${targets[@]}" -j "$jobs"

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

dict_of() {
  case "$1" in
    kserve_request) echo "$root/fuzz/kserve.dict" ;;
    http_request) echo "$root/fuzz/http.dict" ;;
  esac
}

failed=0
for f in $fuzzers; do
  corpus="$build/corpus/$f"
  artifacts="$build/artifacts/$f/"
  mkdir -p "$corpus" "$artifacts"
  cp "$root/fuzz/corpus/$f"/* "$corpus"/
  log="$build/${f}_fuzz.log"
  set +e
  "$build/fuzz/${f}_fuzz" "$corpus" -dict="$(dict_of "$f")" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts" 2> "$log"
  rc=$?
  set -e
  echo "== ${f}_fuzz"
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" || true
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
  if [[ $rc -ne 0 ]]; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: ${f}_fuzz failed (exit $rc); reproducers in $artifacts; log in $log" >&2
    failed=$rc
  else
    echo "fuzz.sh: ${f}_fuzz: no crash in ${seconds} s; log in $log"
  fi
done
exit "$failed"
