#!/usr/bin/env bash
# The figures of issue 12's "What must hold", measured with a built `autoscale`:
#
#   scripts/issue12_figures.sh [AUTOSCALE] [--out DIR] [--jobs N] [--bench BENCH] [--only A,B,...]
#
#   AUTOSCALE  the binary (default build-sim/autoscale)
#   --out      where reports go (default results/issue12; results/ is not tracked)
#   --jobs     worker threads for each `autoscale sim` (default: all cores)
#   --bench    the simulated-request benchmark (default: bench/sim_loop_bench beside AUTOSCALE,
#              else build/bench/sim_loop_bench); "none" skips it
#   --only     run only these experiments (names below; the table still lists those found)
#
# Experiments (configs/experiments/):
#   default                      the shipped default experiment (also timed: must stay < 10 s)
#   mahimahi/throughput_recorded the shared Mahimahi LTE traces as recorded, no nearby device
#   mahimahi/throughput_x10      the same traces' throughput x10: throughput decides
#   mahimahi/fresh_agent         no training, scored over the first 1000 requests (curve: 0)
#   mahimahi/learning_curve_N    N = 100, 1000, 10000, 100000 training requests, 1000 scored
#   unseen_load_surge            heavy co-runner load arriving mid-evaluation
#   unseen_wifi_drop             Wi-Fi -55 -> -85 dBm mid-evaluation
#   unseen_throughput_collapse   Wi-Fi throughput collapse and recovery, signal unchanged
#   mahimahi/transfer_source_sd845 + mahimahi/transfer_sd845_sd855
#                                a table learned on sd845 loaded on sd855, no training
#   mismatch                     beliefs differ from the world (shipped separately; skipped if absent)
#
# The mahimahi/ experiments read ../shared/data/traces/mahimahi (beside the repository, never
# copied into it); where that folder is absent they are skipped, saying so. Experiments listing
# `{label: q_learning_no_prior, params: {prior: none}}` run without that entry when the built
# agent has no `prior` parameter (said so in the table). Every command run is printed, and
# listed again at the end. Needs python3 for the table.
set -u
cd "$(dirname "$0")/.."

bin=build-sim/autoscale
out=results/issue12
jobs=0
bench=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    -*) echo "issue12_figures: unknown option $1" >&2; exit 2 ;;
    *) bin="$1"; shift ;;
  esac
done
if [ ! -x "$bin" ]; then
  echo "issue12_figures: no executable autoscale at '$bin' (build it: ninja -C build-sim autoscale)" >&2
  exit 2
fi
if ! command -v python3 >/dev/null; then
  echo "issue12_figures: python3 is needed to print the table" >&2
  exit 2
fi
if [ -z "$bench" ]; then
  bench="$(dirname "$bin")/bench/sim_loop_bench"
  [ -x "$bench" ] || bench=build/bench/sim_loop_bench
fi
[ "$jobs" = 0 ] && jobs=$(nproc)
traces=../shared/data/traces/mahimahi
mkdir -p "$out/.yaml"
status_file="$out/status.tsv"   # name, file, state, seconds, note
: > "$status_file"
commands=()

say() { printf '%s\n' "$*"; }
note_status() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$status_file"; }
wanted() { [ -z "$only" ] || [[ "$only" == *",$1,"* ]]; }

# A copy of experiment $1 without its `prior: none` policy, its relative paths made absolute
# (they resolve against the YAML file's folder). Prints the copy's path.
without_prior() {
  local src="$1" dir copy
  dir="$(cd "$(dirname "$src")" && pwd)"
  copy="$out/.yaml/$(basename "$src")"
  sed -e '/prior: none/d' -e "s#\([[ ]\)\(\.\./\)#\1$dir/\2#g" "$src" > "$copy"
  printf '%s\n' "$copy"
}

# run NAME FILE [extra sim options...]
run() {
  local name="$1" file="$2"; shift 2
  wanted "$name" || return 0
  local note="" use="$file"
  if [ ! -f "$file" ]; then
    say "== $name: $file does not exist; skipped"
    note_status "$name" "$file" skipped 0 "not shipped yet"
    return 0
  fi
  if [[ "$file" == */mahimahi/* ]] && [ ! -d "$traces" ]; then
    say "== $name: $traces is absent (shared traces, not in the repository); skipped"
    note_status "$name" "$file" skipped 0 "no $traces"
    return 0
  fi
  local check rc_check
  check="$("$bin" check-config "$file" 2>&1)"; rc_check=$?
  if [ $rc_check -ne 0 ] && grep -q "unknown key 'prior'" <<<"$check"; then
    use="$(without_prior "$file")"
    note="q_learning_no_prior dropped: this build's q_learning has no 'prior' parameter"
    say "== $name: $note (running $use)"
    check="$("$bin" check-config "$use" 2>&1)"; rc_check=$?
  fi
  if [ $rc_check -ne 0 ]; then
    local why
    why="$(grep -m1 '^FAIL' <<<"$check" | sed 's/^FAIL  //')"
    say "== $name: refused at load: $why"
    note_status "$name" "$file" refused 0 "$why"
    return 0
  fi
  local cmd=("$bin" sim "$use" --quiet --jobs "$jobs" --out "$out/$name" "$@")
  say "== $name"
  say "\$ ${cmd[*]}"
  commands+=("${cmd[*]}")
  local t0 t1 rc
  t0=$(date +%s.%N)
  "${cmd[@]}" > "$out/$name.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
  grep -m1 '^simulated' "$out/$name.log" || true
  if [ $rc -ne 0 ]; then
    local why
    why="$(grep -m1 -i 'error' "$out/$name.log" | sed 's/^autoscale: error: //')"
    say "   failed (exit $rc): $why"
    note_status "$name" "$file" failed "$secs" "$why"
  else
    note_status "$name" "$file" ok "$secs" "$note"
  fi
}

E=configs/experiments
M=$E/mahimahi
run default $E/default.yaml
run throughput_recorded $M/throughput_recorded.yaml
run throughput_x10 $M/throughput_x10.yaml
run fresh_agent $M/fresh_agent.yaml
for n in 100 1000 10000 100000; do run learning_curve_$n $M/learning_curve_$n.yaml; done
run unseen_load_surge $E/unseen_load_surge.yaml
run unseen_wifi_drop $E/unseen_wifi_drop.yaml
run unseen_throughput_collapse $E/unseen_throughput_collapse.yaml
run transfer_source_sd845 $M/transfer_source_sd845.yaml --save-tables "$out/tables"
if wanted transfer_sd845_sd855 && [ -d "$traces" ] && [ "$out" != results/issue12 ]; then
  # The transfer experiment names its table under results/issue12/tables.
  mkdir -p results/issue12/tables/q_learning
  cp -f "$out"/tables/q_learning/*.qtable results/issue12/tables/q_learning/ 2>/dev/null || true
fi
run transfer_sd845_sd855 $M/transfer_sd845_sd855.yaml
run mismatch $E/mismatch.yaml

bench_line=""
if [ "$bench" != none ] && wanted bench; then
  if [ -x "$bench" ]; then
    bcmd=(taskset -c 0 "$bench" --benchmark_filter=BM_SimulatedRequest --benchmark_format=json)
    command -v taskset >/dev/null || bcmd=("${bcmd[@]:2}")
    say "== bench"
    say "\$ ${bcmd[*]}"
    commands+=("${bcmd[*]} > $out/bench.json")
    "${bcmd[@]}" > "$out/bench.json" 2> "$out/bench.log" || say "   benchmark failed (see $out/bench.log)"
  else
    say "== bench: no benchmark at $bench; skipped"
  fi
fi

say ""
python3 - "$out" "$status_file" <<'PY'
import csv, json, math, os, sys
out, status_file = sys.argv[1], sys.argv[2]
status = {}
order = []
for row in csv.reader(open(status_file), delimiter="\t"):
    if not row:
        continue
    status[row[0]] = row
    order.append(row[0])

def load(name):
    try:
        return json.load(open(os.path.join(out, name, "summary.json")))
    except (OSError, ValueError):
        return None

def runs(name):
    try:
        return list(csv.DictReader(open(os.path.join(out, name, "runs.csv"))))
    except OSError:
        return []

# Evaluation windows after a request index of the run (training requests first): the mean over
# those windows of energy_over_time.dat, whose x is the evaluation request and whose values are
# each window's energy per inference / the oracle's on the same requests (mean over runs).
def after(name, first_index):
    try:
        spec = json.load(open(os.path.join(out, name, "runs.json")))["spec"]
        lines = open(os.path.join(out, name, "energy_over_time.dat")).read().splitlines()
    except (OSError, ValueError, KeyError):
        return {}
    first_eval = first_index - spec["train_requests"] * spec["train_epochs"]
    head = [h.strip('"') for h in lines[0].lstrip("# ").split("  (")[0].split()[1:]]
    sums, counts = [0.0] * len(head), [0] * len(head)
    for line in lines[1:]:
        f = line.split()
        if not f or float(f[0]) < first_eval:
            continue
        for i, x in enumerate(f[1:len(head) + 1]):
            v = float(x)
            if not math.isnan(v):
                sums[i] += v
                counts[i] += 1
    return {h: sums[i] / counts[i] for i, h in enumerate(head) if counts[i]}

# Evaluation starts at request 100000 in the unseen_* experiments; the change comes at
# 20300 s (request ~101500); the throughput recovers at 20500 s (request ~102500).
after_from = {"unseen_load_surge": 101500, "unseen_wifi_drop": 101500,
              "unseen_throughput_collapse": 102500}
skip_labels = {"random"}

print("Issue 12 figures (evaluation part; vs_orcl: mean over runs of energy / the oracle's;")
print("tot/orcl: total energy / the oracle's; qos: QoS violations, % of requests; d_qos: minus the oracle's)")
hdr = f"{'experiment':28s} {'policy':22s} {'runs':>5s} {'vs_orcl':>8s} {'tot/orcl':>8s} {'qos%':>7s} {'orcl%':>7s} {'d_qos':>6s} {'after':>7s}  note"
print(hdr)
print("-" * len(hdr))
curve = {}
for name in order:
    st = status[name]
    state, secs, note = st[2], st[3], st[4]
    s = load(name) if state == "ok" else None
    if s is None:
        print(f"{name:28s} {'-':22s} {'':>5s} {'':>8s} {'':>8s} {'':>7s} {'':>7s} {'':>6s} {'':>7s}  {state}: {note}")
        continue
    agg = {a["policy"]: a for a in s["aggregate"]}
    oq = agg.get("oracle", {}).get("qos_violation_rate", float("nan")) * 100
    aft = after(name, after_from[name]) if name in after_from else {}
    first = True
    for label, a in agg.items():
        if label == "oracle" or label in skip_labels or label.startswith("always_"):
            continue
        q = a["qos_violation_rate"] * 100
        af = f"{aft[label]:.3f}" if label in aft else ""
        extra = []
        if first:
            extra.append(f"{secs} s")
            if note:
                extra.append(note)
            first = False
        print(f"{name:28s} {label:22s} {a['runs']:5d} {a['energy_vs_oracle']:8.3f} "
              f"{a['energy_vs_oracle_total']:8.3f} {q:7.2f} {oq:7.2f} {q - oq:+6.2f} {af:>7s}  "
              + "; ".join(extra))
        if name == "fresh_agent" or name.startswith("learning_curve_"):
            n = 0 if name == "fresh_agent" else int(name.rsplit("_", 1)[1])
            curve.setdefault(label, {})[n] = a["energy_vs_oracle"]
    # Per device, for the learning policies.
    by = {}
    for r in runs(name):
        if r["policy"].startswith("q_learning") or r["policy"] == "model_greedy":
            by.setdefault((r["policy"], r["device"]), []).append(float(r["energy_vs_oracle"]))
    devs = sorted({d for _, d in by}, key=lambda d: ["sd845", "sd855", "sd810"].index(d)
                  if d in ("sd845", "sd855", "sd810") else 9)
    if len(devs) > 1:
        for label in [l for l in agg if (l, devs[0]) in by]:
            parts = ", ".join(f"{d} {sum(by[(label, d)]) / len(by[(label, d)]):.3f}" for d in devs)
            print(f"{'':28s}   by device ({label}): {parts}")
print("after: the unseen_* experiments' evaluation after the change (load surge, Wi-Fi drop: from")
print("request 101500) or after the recovery (throughput collapse: from request 102500), energy")
print("per window of energy_over_time.dat over the oracle's on the same requests, averaged.")

if curve:
    print()
    print("Learning curve (traces x10; 0 = fresh_agent; each point scored on the next 1000 requests)")
    ns = [0, 100, 1000, 10000, 100000]
    print(f"{'policy':22s} " + " ".join(f"{n:>8d}" for n in ns))
    for label, pts in curve.items():
        if label == "model_greedy":
            continue
        print(f"{label:22s} " + " ".join(f"{pts[n]:8.3f}" if n in pts else f"{'-':>8s}" for n in ns))
    if "model_greedy" in curve:
        pts = curve["model_greedy"]
        print(f"{'model_greedy':22s} " + " ".join(f"{pts[n]:8.3f}" if n in pts else f"{'-':>8s}" for n in ns))

if "default" in status and status["default"][2] == "ok":
    log = open(os.path.join(out, "default.log")).read().splitlines()
    sim_line = next((l for l in log if l.startswith("simulated")), "")
    print()
    print(f"Default experiment run time: {status['default'][3]} s wall (limit 10 s); {sim_line}")

bj = os.path.join(out, "bench.json")
if os.path.exists(bj):
    try:
        b = json.load(open(bj))
        print()
        print("Simulated-request benchmark (one core; limit >= 5 M requests/s):")
        for bm in b.get("benchmarks", []):
            ips = bm.get("items_per_second")
            if ips:
                print(f"  {bm['name']:45s} {ips / 1e6:6.2f} M requests/s")
    except ValueError:
        print("benchmark output unreadable: " + bj)
PY

say ""
say "Commands run:"
for c in "${commands[@]}"; do say "  $c"; done
