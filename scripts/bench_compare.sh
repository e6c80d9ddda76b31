#!/usr/bin/env bash
# Compares builds of a Google Benchmark program on a noisy machine: runs each build in turn,
# ROUNDS times, pinned to one core, and prints per benchmark the min and median time per
# iteration (ns) over the rounds. Interleaving the builds is what makes their figures
# comparable: on a shared VM the speed drifts by up to 2x within minutes.
#
#   scripts/bench_compare.sh [--rounds N] [--core C] [--filter REGEX] [--min-time S] \
#       LABEL BINARY [LABEL BINARY ...]
#
#   e.g. scripts/bench_compare.sh before /tmp/old/bench/sim_loop_bench \
#                                 after build-sim/bench/sim_loop_bench
set -euo pipefail

rounds=8 core=1 filter=. min_time=0.3
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --core) core=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --help|-h) usage; exit 0 ;;
    *) echo "bench_compare: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 || $(( $# % 2 )) -ne 0 ]]; then
  echo "bench_compare: expected LABEL BINARY pairs" >&2; usage >&2; exit 2
fi
args=("$@")
for ((i = 1; i < ${#args[@]}; i += 2)); do
  [[ -x ${args[i]} ]] || { echo "bench_compare: ${args[i]}: not an executable" >&2; exit 2; }
done
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    taskset -c "$core" "${args[i+1]}" --benchmark_min_time="$min_time" \
        --benchmark_filter="$filter" --benchmark_format=csv 2>/dev/null |
      awk -F, -v l="${args[i]}" '/^"/ && NR > 1 { gsub(/"/, "", $1); print l, $1, $3 }'
  done
done | awk '{ k = $1 " " $2; v[k] = v[k] " " $3 } END { for (k in v) print k, v[k] }' | sort |
  while read -r label name rest; do
    echo "$label $name $(tr ' ' '\n' <<< "$rest" | sort -g |
      awk '{ a[NR] = $1 } END { printf "min %d median %d (n=%d)", a[1], a[int((NR + 1) / 2)], NR }')"
  done
