#!/usr/bin/env bash
# The pipelined CPU target's figures (issue 14, "What must hold", first item), measured with a
# full build (libtorch):
#
#   scripts/issue14_figures.sh [BUILD_DIR] [--out DIR] [--repetitions N] [--requests N]
#
#   BUILD_DIR      the build with bench/pipeline_bench and autoscale (default: build)
#   --out          where the outputs go (default results/issue14; results/ is not tracked)
#   --repetitions  Google Benchmark repetitions of BM_IntraOp/BM_Pipelined/BM_OneCore (default 3)
#   --requests     requests per split in the exhaustive split check (default 40)
#
# Runs, in order: the benchmarks (medians of the repetitions), the exhaustive split check (every
# two-stage split of MobileNet v2 and ResNet-18 measured once, then the fastest of them, the
# searched split and the split a leave-the-model-out layer fit chooses measured again in
# interleaved rounds and compared by medians), and `autoscale pipeline MODEL --measure` for
# both models. Needs a quiet machine: on a shared 2-core VM, a co-runner on one core slows
# intra-op parallelism by tens of times (every layer waits for its second thread). Prints every
# command it runs and a summary at the end.
set -u
cd "$(dirname "$0")/.."

build=build
out=results/issue14
reps=3
requests=40
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --repetitions) reps="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "issue14_figures.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
bench="$build/bench/pipeline_bench"
cli="$build/autoscale"
for f in "$bench" "$cli"; do
  if [ ! -x "$f" ]; then
    echo "issue14_figures.sh: $f not built (a full build: scripts/build.sh)" >&2
    exit 1
  fi
done
mkdir -p "$out"
run() {
  echo "+ $*" >&2
  "$@"
}

run "$bench" --benchmark_min_time=2 --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true --benchmark_format=json \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json >/dev/null || exit 1
run "$bench" --benchmark_filter=none --exhaustive --requests="$requests" \
  | tee "$out/exhaustive.txt" || exit 1
for m in mobilenet_v2 resnet18; do
  run "$cli" pipeline "$m" --measure 200 | tee "$out/pipeline_$m.txt" || exit 1
done

python3 - "$out/bench.json" <<'EOF'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
med = {}
for b in runs:
    if b.get("aggregate_name") == "median":
        med[b["run_name"].replace("/real_time", "")] = b["items_per_second"]
print("\nmedian requests/s over the repetitions:")
for m in ("mobilenet_v2", "resnet18"):
    p, i, o = (med.get(f"BM_{k}/{m}") for k in ("Pipelined", "IntraOp", "OneCore"))
    if None in (p, i, o):
        continue
    print(f"  {m}: pipelined {p:.1f}, intra-op {i:.1f}, one core {o:.1f}; "
          f"pipelined/intra-op {p / i:.2f}x (Pipe-it: 1.39x on a phone), pipelined/one core {p / o:.2f}x")
EOF
grep -h "searched/best" "$out/exhaustive.txt"
