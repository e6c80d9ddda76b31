#!/usr/bin/env bash
# Replays hostile inputs against the real binaries (issue 10): bad flags, planted links, squatted
# and shared folders, a busy address, a worker that answers garbage, the shipped DSP demo, and
# the simulator's and the worker's hostile cases. Loopback and Unix sockets only; every case is
# bounded in time. Prints one line per case (PASS, FAIL or SKIP, its name, what was seen) and a
# closing "hostile: N passed, M failed" line; exits 1 when a case failed.
#
# Usage: scripts/hostile.sh [--quick] [CASE...]
#   --quick   only the cases that take a few seconds each (what CI runs, through ctest)
#   CASE      run only the named cases (see the names printed)
# Env: BUILD (default build/), KEEP=1 keeps the temp folder with the logs.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${BUILD:-$root/build}" 2> /dev/null && pwd)" || {
  echo "hostile.sh: no build folder ${BUILD:-$root/build}" >&2
  exit 2
}
quick=0
only=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) only+=("$a") ;;
  esac
done

autoscale="$build/autoscale"
daemon="$build/autoscaled"
worker="$build/autoscale-worker"
load="$build/bench/daemon_load"
export AUTOSCALE_CONFIG_DIR="$root/configs"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

# A private folder (0700): the daemon refuses sockets and state in shared ones such as /tmp.
tmp="$(mktemp -d /tmp/autoscale-hostile.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null && wait "$p" 2> /dev/null; done
  if [[ "${KEEP:-0}" == 1 ]]; then echo "hostile.sh: logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

passed=0
failed=0
skipped=0
pass() {
  echo "PASS  $case_name: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL  $case_name: $*"
  failed=$((failed + 1))
  KEEP=1
}
skip() {
  echo "SKIP  $case_name: $*"
  skipped=$((skipped + 1))
}
# want NAME SLOW: true when the case is to run now.
want() {
  case_name="$1"
  if ((${#only[@]})); then
    local o
    for o in "${only[@]}"; do [[ "$o" == "$1" ]] && return 0; done
    return 1
  fi
  [[ "$2" == quick || $quick == 0 ]]
}
need() {
  local b
  for b in "$@"; do
    if [[ ! -x "$b" ]] && ! command -v "$b" > /dev/null 2>&1; then
      skip "$(basename "$b") not built or installed"
      return 1
    fi
  done
}
# Runs a command with a time limit, its output in $tmp/$case_name.out; sets rc and out.
run() {
  local secs="$1"
  shift
  rc=0
  timeout -k 5 "$secs" "$@" > "$tmp/$case_name.out" 2>&1 || rc=$?
  out="$(cat "$tmp/$case_name.out")"
}
# Waits up to $3 s for file $1 to contain $2; false when process $4 exits first.
wait_for_log() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2> /dev/null && return 0
    kill -0 "$4" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}
# Writes a daemon config $1 with listen $2, state_file $3, policy $4, models $5 and targets $6.
daemon_config() {
  cat > "$1" << EOF
device: sd845
models: [$5]
listen: $2
state_file: $3
save_interval_s: 0
policy: $4
fallback: cpu_big
defaults: {latency_bound_ms: 2000, min_accuracy: 0}
targets:
$6
probes: {interval_ms: 200, assumed_wifi_rssi_dbm: -50}
EOF
}
cpu_only="  cpu_big: {backend: cpu, threads: 1}"
# Starts the daemon with config $1 (log $2) in the background; sets dpid; waits until it serves.
start_daemon() {
  "$daemon" --config "$1" 2> "$2" &
  dpid=$!
  pids+=("$dpid")
  wait_for_log "$2" "serving on " 120 "$dpid"
}
stop_daemon() {
  kill -TERM "$dpid" 2> /dev/null
  local rc=0
  timeout 60 tail --pid="$dpid" -f /dev/null || kill -KILL "$dpid" 2> /dev/null
  wait "$dpid" 2> /dev/null || rc=$?
  return "$rc"
}

# --- the simulator and check-config ----------------------------------------------------------
# Each under a 2 GB address-space cap: a runaway allocation fails fast instead of eating the host.

# An experiment with requests $1, loads $2 (default a constant), name $3 and policies $4.
experiment() {
  local loads="${2:-"{cpu: 0.1}"}"
  cat << EOF
name: ${3:-h}
config_root: $root/configs
conditions: $root/configs/scenarios/standard.yaml
train_requests: 2000
eval_requests: 500
models: [mobilenet_v1, vgg16]
loads: {tr: $loads}
requests: {rq: $1}
grid: {devices: [sd845], networks: [wifi_strong], loads: [tr], requests: [rq]}
policies: [${4:-q_learning}]
EOF
}
# sim_case WANT_RC WANT_TEXT COMMAND...: one simulator case, capped at 2 GB and 60 s.
sim_case() {
  local want_rc="$1" want="$2"
  shift 2
  run 60 bash -c 'ulimit -v 2000000; exec "$@"' _ "$@"
  if [[ $rc == "$want_rc" && "$out" == *"$want"* ]]; then
    pass "exit $rc: $(grep -m1 -F -- "$want" <<< "$out" | cut -c1-160)"
  else
    fail "exit $rc (wanted $want_rc, '$want'): $(tail -c 300 <<< "$out")"
  fi
}
sims="$tmp/sim"
mkdir -p "$sims/experiments"

if want sim_dev_zero quick && need "$autoscale"; then
  sim_case 1 "/dev/zero: not a regular file" "$autoscale" sim /dev/zero
fi
if want sim_slow_rate quick && need "$autoscale"; then
  experiment "{latency_bound_ms: 100, rate_hz: 1e-5}" > "$sims/experiments/slow.yaml"
  sim_case 0 "simulated" "$autoscale" sim "$sims/experiments/slow.yaml" --quiet --out "$sims/out"
fi
if want sim_load_trace_range quick && need "$autoscale"; then
  printf 'time_s,cpu\n0,0.5\n1,50\n2,-3\n' > "$sims/load.csv"
  experiment "{latency_bound_ms: 100}" "{cpu: {trace: $sims/load.csv}}" \
    > "$sims/experiments/load.yaml"
  sim_case 1 "load.csv:3: load in column 'cpu' must be in [0, 1], got 50" \
    "$autoscale" check-config "$sims/experiments/load.yaml"
fi
if want sim_accuracy_floor quick && need "$autoscale"; then
  experiment "{latency_bound_ms: 100, min_accuracy: 1.0}" > "$sims/experiments/floor.yaml"
  sim_case 1 "min_accuracy 1 can never be met on device 'sd845'" \
    "$autoscale" check-config "$sims/experiments/floor.yaml"
fi
if want sim_name_escape quick && need "$autoscale"; then
  experiment "{latency_bound_ms: 100}" "" "../../x" > "$sims/experiments/name.yaml"
  sim_case 1 "experiment name '../../x' must be" \
    "$autoscale" sim "$sims/experiments/name.yaml" --quiet --out "$sims/out_name"
fi
if want sim_qtable_inf quick && need "$autoscale"; then
  experiment "{latency_bound_ms: 100}" > "$sims/experiments/train.yaml"
  "$autoscale" sim "$sims/experiments/train.yaml" --quiet --out "$sims/out2" \
    --save-tables "$sims/tables" > /dev/null 2>&1
  q="$sims/tables/q_learning/sd845_wifi_strong_tr_rq_seed1.qtable"
  # The first entry line: after the header (magic, prior, buckets, actions N, N actions, size).
  line=$(( $(grep -n '^size ' "$q" | head -1 | cut -d: -f1) + 1 ))
  sed -i "${line}s/^\([0-9]* [0-9]*\) [^ ]* /\1 1e300 /" "$q"
  experiment "{latency_bound_ms: 100}" "" h "{name: q_learning, params: {table: $q}}" \
    > "$sims/experiments/inf.yaml"
  sim_case 1 "qtable:$line: Q value 1e300 is outside [-1e+18, 1e+18]" \
    "$autoscale" check-config "$sims/experiments/inf.yaml"
fi
if want sim_big_yaml quick && need "$autoscale"; then
  {
    experiment "{latency_bound_ms: 100}"
    echo "seeds:"
    yes "  - 1" | head -c 3000000
  } > "$sims/experiments/big.yaml"
  sim_case 1 "over the limit of 2097152 bytes" "$autoscale" check-config "$sims/experiments/big.yaml"
fi

# --- the worker -------------------------------------------------------------------------------

# Starts autoscale-worker (kws_lstm, one thread) with extra flags; sets wpid, waddr and wlog.
start_worker() {
  wlog="$tmp/worker_$case_name.log"
  "$@" "$worker" --listen "${listen:-127.0.0.1:0}" --device cpu --threads 1 --models kws_lstm \
    --max-batch-size 8 "${wflags[@]}" 2> "$wlog" &
  wpid=$!
  pids+=("$wpid")
  wait_for_log "$wlog" "serving on " 60 "$wpid" || return 1
  waddr="$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$wlog" | head -n 1)"
}
stop_worker() {
  kill -TERM "$wpid" 2> /dev/null
  timeout 30 tail --pid="$wpid" -f /dev/null || kill -KILL "$wpid" 2> /dev/null
  wait "$wpid" 2> /dev/null
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wflags=()

if want worker_unlisted_model quick && need "$worker" curl; then
  if start_worker; then
    before="$(rss_kb "$wpid")"
    codes=""
    for m in resnet50 vgg16 inception_v3 ../../etc/passwd; do
      codes+="$(curl -s -o /dev/null -w '%{http_code}' "http://$waddr/v2/models/$m") "
    done
    after="$(rss_kb "$wpid")"
    stop_worker
    if [[ "$codes" == "404 404 404 404 " && $((after - before)) -lt 51200 ]]; then
      pass "unlisted models: $codes(nothing loaded: RSS $((before / 1024)) -> $((after / 1024)) MiB)"
    else
      fail "codes $codes, RSS $before -> $after kB"
    fi
  else
    fail "the worker did not start: $(tail -n 3 "$wlog")"
  fi
fi

if want worker_batch_over_cap quick && need "$worker" curl python3; then
  if start_worker; then
    body="$(python3 -c 'import json; print(json.dumps({"inputs": [{"name": "input",
      "datatype": "FP32", "shape": [9, 49, 10], "data": [0.0] * 4410}]}))')"
    run 20 curl -s -w ' %{http_code}' --data-binary "$body" "http://$waddr/v2/models/kws_lstm/infer"
    stop_worker
    if [[ "$out" == *" 400" && "$out" == *"max_batch_size"* ]]; then
      pass "a batch of 9 over max_batch_size 8: ${out:0:120}"
    else
      fail "$out"
    fi
  else
    fail "the worker did not start: $(tail -n 3 "$wlog")"
  fi
fi

if want worker_file_limit quick && need "$worker" curl python3 prlimit; then
  # 200 connections at an open-file limit of 128: accept backs off instead of spinning, and
  # the worker serves again once they close.
  wflags=(--max-connections 100000)
  if start_worker prlimit --nofile=128; then
    python3 -c 'import socket,sys,time
host, port = sys.argv[1].rsplit(":", 1)
socks = []
for _ in range(200):
    s = socket.socket(); s.settimeout(2)
    try: s.connect((host, int(port))); socks.append(s)
    except OSError: break
time.sleep(0.5)
print(len(socks), flush=True)
time.sleep(2)' "$waddr" > "$tmp/held" &
    holder=$!
    sleep 0.7
    t0="$(cpu_ticks "$wpid")"
    sleep 1.5
    t1="$(cpu_ticks "$wpid")"
    wait "$holder"
    sleep 0.3
    code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$waddr/v2/health/ready")"
    stop_worker
    hz="$(getconf CLK_TCK)"
    if [[ "$code" == 200 && $(((t1 - t0) * 100 / hz)) -lt 20 ]]; then
      pass "$(cat "$tmp/held") connections at nofile 128: $(((t1 - t0) * 1000 / hz)) ms CPU in 1.5 s, then ready $code"
    else
      fail "CPU $(((t1 - t0) * 1000 / hz)) ms in 1.5 s, ready $code: $(tail -n 2 "$wlog")"
    fi
  else
    fail "the worker did not start: $(tail -n 3 "$wlog")"
  fi
  wflags=()
fi

if want worker_socket_link quick && need "$worker"; then
  mkdir -p "$tmp/w9"
  printf 'precious\n' > "$tmp/w9/victim"
  ln -s "$tmp/w9/victim" "$tmp/w9/w.sock"
  run 30 "$worker" --listen "unix:$tmp/w9/w.sock" --device cpu --models kws_lstm
  if [[ $rc == 1 && "$out" == *"symbolic link"* && "$(cat "$tmp/w9/victim")" == precious ]]; then
    pass "a link at the socket path refused, its target untouched"
  else
    fail "exit $rc, victim '$(cat "$tmp/w9/victim")': $out"
  fi
fi

if want worker_malformed_http quick && need "$worker" python3; then
  if start_worker; then
    res="$(python3 -c 'import socket,sys
host, port = sys.argv[1].rsplit(":", 1)
def ask(data):
    s = socket.create_connection((host, int(port)), timeout=5); s.sendall(data)
    got = s.recv(200).split(b"\r\n")[0].decode(); s.close(); return got
print(ask(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), "|",
      ask(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"))' "$waddr")"
    code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$waddr/v2/health/ready")"
    stop_worker
    if [[ "$res" == "HTTP/1.1 400"*"| HTTP/1.1 431"* && "$code" == 200 ]]; then
      pass "malformed header: $res; still serving ($code)"
    else
      fail "$res; ready $code"
    fi
  else
    fail "the worker did not start: $(tail -n 3 "$wlog")"
  fi
fi

# --- the daemon -------------------------------------------------------------------------------

if want daemon_drain_overflow quick && need "$daemon"; then
  daemon_config "$tmp/d0.yaml" "unix:$tmp/d0.sock" '""' q_learning kws_lstm "$cpu_only"
  run 20 "$daemon" --config "$tmp/d0.yaml" --drain-s 1e300
  if [[ $rc == 2 && "$out" == *"--drain-s"*"0 to 3600"* ]]; then
    pass "--drain-s 1e300 refused (exit 2: ${out%%$'\n'*})"
  else
    fail "exit $rc: $out"
  fi
fi

if want daemon_state_in_tmp quick && need "$daemon"; then
  state="/tmp/autoscale-hostile-$$.qtable"
  daemon_config "$tmp/d1.yaml" "unix:$tmp/d1.sock" "$state" q_learning kws_lstm "$cpu_only"
  run 30 "$daemon" --config "$tmp/d1.yaml"
  if [[ $rc == 1 && "$out" == *"writable by other users"* && ! -e "$state" ]]; then
    pass "state_file in /tmp refused before anything was written"
  else
    fail "exit $rc, state file $([[ -e $state ]] && echo written || echo absent): $out"
  fi
  rm -f "$state"
fi

if want daemon_socket_in_tmp quick && need "$daemon"; then
  sock="/tmp/autoscale-hostile-$$.sock"
  daemon_config "$tmp/d2.yaml" "unix:$sock" '""' q_learning kws_lstm "$cpu_only"
  run 30 "$daemon" --config "$tmp/d2.yaml"
  if [[ $rc == 1 && "$out" == *"writable by other users"* && ! -e "$sock" ]]; then
    pass "a socket in /tmp refused (it could be squatted)"
  else
    fail "exit $rc: $out"
  fi
  rm -f "$sock"
fi

if want daemon_busy_address quick && need "$daemon" python3; then
  # Hold a loopback port; the daemon must fail on it at once, before preparing models, and
  # without writing its state file.
  python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(60)' > "$tmp/port" &
  holder=$!
  pids+=("$holder")
  for _ in $(seq 50); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
  port="$(cat "$tmp/port")"
  mkdir -p "$tmp/state3"
  daemon_config "$tmp/d3.yaml" "127.0.0.1:$port" "$tmp/state3/q.qtable" q_learning \
    mobilenet_v2,resnet18 "$cpu_only"
  start_s=$SECONDS
  run 60 "$daemon" --config "$tmp/d3.yaml"
  took=$((SECONDS - start_s))
  if [[ $rc == 1 && "$out" != *"prepared"* && ! -e "$tmp/state3/q.qtable" ]]; then
    pass "busy 127.0.0.1:$port: exit 1 in ${took} s, before preparation, no state written"
  else
    fail "exit $rc in ${took} s, state $(ls "$tmp/state3"): $out"
  fi
  kill "$holder" 2> /dev/null
fi

if want daemon_planted_state_link quick && need "$daemon"; then
  # Another user's link at the state file and at the old temporary names: the daemon's save
  # must replace the link, never write through it.
  mkdir -p "$tmp/s4"
  printf 'precious\n' > "$tmp/victim"
  ln -s "$tmp/victim" "$tmp/s4/q.qtable"
  for p in 1 2 100 $$; do ln -s "$tmp/victim" "$tmp/s4/q.qtable.tmp.$p"; done
  daemon_config "$tmp/d4.yaml" "unix:$tmp/s4/d.sock" "$tmp/s4/q.qtable" q_learning kws_lstm \
    "$cpu_only"
  if start_daemon "$tmp/d4.yaml" "$tmp/d4.log" && stop_daemon; then
    if [[ "$(cat "$tmp/victim")" == precious && -f "$tmp/s4/q.qtable" && ! -L "$tmp/s4/q.qtable" ]]
    then
      pass "link at the state file replaced by the saved table; its target untouched"
    else
      fail "victim: '$(cat "$tmp/victim")'; $(ls -l "$tmp/s4" | tr '\n' ' ')"
    fi
  else
    fail "the daemon did not start or stop: $(tail -n 3 "$tmp/d4.log")"
  fi
fi

if want daemon_squatted_socket quick && need "$daemon"; then
  # A regular file where the socket goes is refused, not replaced; a file put in the socket's
  # place while the daemon runs is not removed at shutdown.
  mkdir -p "$tmp/s5"
  printf 'not a socket\n' > "$tmp/s5/d.sock"
  daemon_config "$tmp/d5.yaml" "unix:$tmp/s5/d.sock" '""' q_learning kws_lstm "$cpu_only"
  run 30 "$daemon" --config "$tmp/d5.yaml"
  first_rc=$rc
  first_out="$out"
  kept="$(cat "$tmp/s5/d.sock" 2> /dev/null)"
  rm -f "$tmp/s5/d.sock"
  if start_daemon "$tmp/d5.yaml" "$tmp/d5.log"; then
    rm -f "$tmp/s5/d.sock"
    printf 'someone else\n' > "$tmp/s5/d.sock"
    stop_daemon
    if [[ $first_rc == 1 && "$kept" == "not a socket" &&
      "$(cat "$tmp/s5/d.sock" 2> /dev/null)" == "someone else" ]]; then
      pass "a file at the socket path refused and kept; a replaced path not unlinked at stop"
    else
      fail "first start exit $first_rc ($first_out); file after stop: $(ls -l "$tmp/s5")"
    fi
  else
    fail "the daemon did not start: $(tail -n 3 "$tmp/d5.log")"
  fi
fi

if want daemon_dsp_demo slow && need "$daemon" "$load"; then
  # The shipped demo's local targets (configs/daemon/loopback.yaml: cpu_big with one libtorch
  # thread, the DSP stub with the default), every request sent to the DSP at INT8.
  targets="$(sed -n 's/^  \(cpu_big\|dsp\): /  \1: /p' "$root/configs/daemon/loopback.yaml")"
  daemon_config "$tmp/d6.yaml" "unix:$tmp/d6.sock" '""' \
    "{name: static, params: {target: dsp, precision: int8}}" mobilenet_v2,squeezenet_1_1 "$targets"
  if start_daemon "$tmp/d6.yaml" "$tmp/d6.log"; then
    res=""
    for m in mobilenet_v2 squeezenet_1_1; do
      run 300 "$load" --server "unix:$tmp/d6.sock" --model "$m" --clients 4 --requests 5 \
        --min-accuracy 0
      res+="$m: $(grep '^RESULT' <<< "$out" | cut -d' ' -f2-8); "
    done
    stop_daemon
    if [[ "$res" == *"answered=20 lost=0 http_errors=0 wrong=0 unchecked=0 fallbacks=0"*"answered=20 lost=0 http_errors=0 wrong=0 unchecked=0 fallbacks=0"* ]]
    then
      pass "every request answered by the DSP: $res"
    else
      fail "$res (log $tmp/d6.log)"
    fi
  else
    fail "the daemon did not start: $(tail -n 3 "$tmp/d6.log")"
  fi
fi

if want daemon_garbage_worker slow && need "$daemon" "$load" python3; then
  # A worker that answers 200 with NaN logits, a [1,10] shape, UINT8 or three outputs: never
  # passed to the client, always a failed offload answered by the fallback.
  python3 "$root/scripts/garbage_worker.py" > "$tmp/gw.port" 2> "$tmp/gw.log" &
  gw=$!
  pids+=("$gw")
  for _ in $(seq 50); do [[ -s "$tmp/gw.port" ]] && break; sleep 0.1; done
  targets="$cpu_only
  cloud: {backend: remote, endpoint: 127.0.0.1:$(cat "$tmp/gw.port"), failures_to_open: 1000}"
  daemon_config "$tmp/d7.yaml" "unix:$tmp/d7.sock" '""' \
    "{name: static, params: {target: cloud, precision: fp32}}" squeezenet_1_1 "$targets"
  if start_daemon "$tmp/d7.yaml" "$tmp/d7.log"; then
    run 300 "$load" --server "unix:$tmp/d7.sock" --model squeezenet_1_1 --clients 4 \
      --requests 8 --min-accuracy 0
    stop_daemon
    r="$(grep '^RESULT' <<< "$out")"
    if [[ "$r" == *"answered=32 lost=0 http_errors=0 wrong=0"*"fallbacks=32"* ]] &&
      grep -q "bad answer from the worker" "$tmp/d7.log"; then
      pass "32 garbage answers, each a failed offload answered by cpu_big: ${r#RESULT }"
    else
      fail "${r:-no RESULT}: $(grep -m1 'failed after' "$tmp/d7.log")"
    fi
  else
    fail "the daemon did not start: $(tail -n 3 "$tmp/d7.log")"
  fi
  kill "$gw" 2> /dev/null
fi

echo "hostile: $passed passed, $failed failed${skipped:+, $skipped skipped}"
[[ $failed == 0 ]]
