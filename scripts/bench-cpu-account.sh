#!/usr/bin/env bash
# Where the CPU goes in a scenario of ../shared/bench, for two servers: over
# one run of the scenario's natsbench command (the same command line as
# lib.sh), the wall time, the server's CPU (user+system, all threads, from
# /proc/PID/stat), the load generator's CPU (perf stat's task-clock over the
# natsbench process and its threads), and the whole machine's busy and idle
# time (/proc/stat). From these, per unit of the scenario's rate (a message
# for e and j, a connection for m):
#   srv_us, gen_us   CPU microseconds of the server and of the generator
#   busy, idle       cores busy / idle over the run (of nproc), other = busy
#                    minus server minus generator (other work on the machine)
#   gen_bound        nproc / gen CPU per unit: the rate no server could beat
#                    on this machine, even one that cost nothing
#   sat_rate         nproc / (gen + srv CPU per unit): the rate this server
#                    would reach if the generator and it had every core to
#                    themselves and kept them busy (other work and idle
#                    time taken out; an estimate, not a measurement)
# and the generator's context switches per 1,000 units; with -t also its
# syscalls (perf's syscall tracepoints: reads, writes, all syscalls) per
# 1,000 units and the mean size of its reads (gen_read_b: the bytes of the
# MSG frames its subscribers receive, the same from any server, over its
# read calls; 0 for a and m). A summary
# line per scenario and server gives the medians; "bound" the larger of A's
# and B's gen_bound over B's rate, to set against the target of 1.25 x B's
# rate, and the ratios A/B; "ceiling" (-f) the fake server's rate over B's.
#
#   scripts/bench-cpu-account.sh [-s "e j m"] [-r RUNS] [-t] [-f] [-a "CMD A"] [-b "CMD B"]
#
# A defaults to "target/release/nats-lite server -a 127.0.0.1", B to
# "nats-server -a 127.0.0.1"; each run gets a free loopback port (-p added).
# Scenarios: a-e (pubsub), j (100 publishers -> 1 wildcard subscriber), m
# (connection churn). RUNS (default 3) alternates A B, B A, ... . -t counts
# the generator's syscalls too (without it those columns are 0): while a
# syscall tracepoint is enabled every process on the machine, the server
# included, enters and leaves the kernel by the slow path, which inflates
# the CPU figures of syscall-heavy scenarios (m), so take those from a run
# without -t. -f adds a third server, F:
# scripts/load/feed_server.py, the fake that bench-ceilings.sh uses (not
# for m), so the generator's own ceiling is measured in the same session.
# NATSBENCH_SCALE multiplies the counts as in compare.sh; NATSBENCH_NICE as
# in lib.sh, and as root the script runs in a session of its own whose
# autogroup gets that nice value (below). Run it under the bench lock:
# flock /tmp/nats-bench.lock scripts/bench-cpu-account.sh ...
# Needs perf (linux-perf; for -t access to tracepoints: root, or
# kernel.perf_event_paranoid <= 1) and ../shared/bench/install.sh's driver.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${NATSBENCH_DIR:-$here/../../shared/bench}
# shellcheck source=/dev/null
. "$bench/lib.sh"
# shellcheck source=scripts/bench-session.sh
. "$here/bench-session.sh"
nb_own_session "${BASH_SOURCE[0]}" "$@"
nb_build
scenarios="e j m"
runs=3
cmd_a="$here/../target/release/nats-lite server -a 127.0.0.1"
cmd_b="nats-server -a 127.0.0.1"
events=task-clock,context-switches
with_feed=0
while getopts "s:r:a:b:tf" opt; do
  case $opt in
    s) scenarios=$OPTARG ;;
    r) runs=$OPTARG ;;
    a) cmd_a=$OPTARG ;;
    b) cmd_b=$OPTARG ;;
    t) events=$events,syscalls:sys_enter_read,syscalls:sys_enter_write,raw_syscalls:sys_enter ;;
    f) with_feed=1 ;;
    *) sed -n "2,/^set -eu$/{/^set -eu$/d;p}" "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
command -v perf >/dev/null || nb_die "perf not found (apt-get install linux-perf)"
perf stat -x, -e "$events" true 2>/dev/null || nb_die "perf cannot count $events here (root or perf_event_paranoid <= 1)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cpu-account.XXXXXX")
# nb_stop returns the server's exit status (143 after SIGTERM): not an error
trap 'nb_stop || true; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
ncpu=$(nproc)
tck=$(getconf CLK_TCK)

# "busy idle" ticks of the whole machine (first line of /proc/stat)
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, $5 + $6; exit }' /proc/stat; }
# CPU ticks (user+system, all threads) of a running process
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
now_ns() { date +%s%N; }

# gen_args SCENARIO PORT -> the natsbench command line (lib.sh's, without
# -pids) in gen[], in units what its rate counts, in rbytes the bytes its
# subscribers receive, and in feed[] feed_server.py's options for it
gen_args() {
  local s=$1 port=$2 url="nats://127.0.0.1:$2" m1 m2
  m1=$(nb_scaled 1000000) m2=$(nb_scaled 2000000)
  case $s in
    # "MSG foo 1 16\r\n" + 16 + 2 bytes = 32 per delivery; 1 KiB: 1042
    a) gen=(pubsub -s "$url" -np 1 -ns 0 -n "$m2" -ms 16) units=$m2 rbytes=0 ;;
    b) gen=(pubsub -s "$url" -np 1 -ns 1 -n "$m2" -ms 16) units=$((2 * m2)) rbytes=$((32 * m2)) ;;
    c) gen=(pubsub -s "$url" -np 1 -ns 1 -n "$m1" -ms 1024) units=$((2 * m1)) rbytes=$((1042 * m1)) ;;
    d) gen=(pubsub -s "$url" -np 1 -ns 4 -n "$m1" -ms 16) units=$((5 * m1)) rbytes=$((32 * 4 * m1)) ;;
    e) gen=(pubsub -s "$url" -np 4 -ns 4 -n "$m1" -ms 16) units=$((5 * m1)) rbytes=$((32 * 4 * m1)) ;;
    # "MSG bench.p<i> 1 16\r\n" + 18: 37.9 bytes on average over i < 100
    j) gen=(flow -pub "$url" -np 100 -ns 1 -n "$m1" -ms 16 -pubsubj 'bench.p%d' -subsubj 'bench.*' -figure recv)
       units=$m1 rbytes=$((m1 * 379 / 10)) ;;
    m) units=$(nb_scaled 20000) rbytes=0
       gen=(churn -addr "127.0.0.1:$port" -n "$units" -par 8) ;;
    *) nb_die "unknown scenario $s (a-e, j, m)" ;;
  esac
  case $s in
    a | b) feed=(--msgs "$m2" --size 16) ;;
    c) feed=(--msgs "$m1" --size 1024) ;;
    d | e) feed=(--msgs "$m1" --size 16) ;;
    j) feed=(--msgs "$m1" --size 16 --after-pub --msg-subject 'bench.p%d' --msg-subjects 100) ;;
    *) feed=() ;;
  esac
  gen+=(-timeout "${NB_SCENARIO_TIMEOUT}s")
}

# account SCENARIO LABEL CMD: one run; prints one "acct ..." line
account() {
  local s=$1 label=$2 cmd=$3 port out m0 m1 p0 p1 t0 t1
  port=$("$NB" ports -n 1 | sed -n 's/^RESULT ports=//p')
  [ -n "$port" ] || nb_die "no free port"
  gen_args "$s" "$port"
  if [ "$label" = F ]; then
    "${NB_SRV_RUN[@]}" python3 "$here/load/feed_server.py" --port "$port" --duration 300 "${feed[@]}" &
    NB_PID=$!
    "$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "feed_server.py did not start"
  else
    nb_start "$cmd -p $port" "$port" || nb_die "$label did not start: $cmd"
  fi
  case ${gen[0]} in flow | churn) gen+=(-pids "$NB_PID") ;; esac
  m0=$(machine_ticks) p0=$(proc_ticks "$NB_PID") t0=$(now_ns)
  out=$("${NB_RUN[@]}" timeout $((NB_SCENARIO_TIMEOUT + 10)) \
        perf stat -x, -o "$tmp/perf" -e "$events" -- "$NB" "${gen[@]}" | grep -E '^(RESULT|FAIL)' | tail -n 1) || true
  t1=$(now_ns) m1=$(machine_ticks) p1=$(proc_ticks "$NB_PID")
  nb_stop || true
  case $out in RESULT*) ;; *) nb_die "$s under $label: ${out:-no output} (log: $NB_LOG_DIR/server.log)" ;; esac
  awk -F, -v s="$s" -v label="$label" -v rate="$(nb_get rate "$out")" -v dur="$(nb_get dur_s "$out")" \
      -v units="$units" -v ncpu="$ncpu" -v tck="$tck" -v wall_ns="$((t1 - t0))" \
      -v m0="$m0" -v m1="$m1" -v srv="$((p1 - p0))" -v rbytes="$rbytes" '
    BEGIN { rd = wr = sc = 0 }
    $3 == "task-clock" { gen_ms = $1 }
    $3 == "context-switches" { cs = $1 }
    $3 == "syscalls:sys_enter_read" { rd = $1 }
    $3 == "syscalls:sys_enter_write" { wr = $1 }
    $3 == "raw_syscalls:sys_enter" { sc = $1 }
    END {
      wall = wall_ns / 1e9
      split(m0, a, " "); split(m1, b, " ")
      busy = (b[1] - a[1]) / tck / wall; idle = (b[2] - a[2]) / tck / wall
      srv_s = srv / tck; gen_s = gen_ms / 1e3
      k = units / 1e3
      printf "acct %s %-10s rate=%d dur_s=%s wall_s=%.2f srv_cpu_s=%.2f gen_cpu_s=%.2f", s, label, rate, dur, wall, srv_s, gen_s
      printf " srv_us=%.3f gen_us=%.3f srv_cores=%.2f gen_cores=%.2f busy=%.2f idle=%.2f other=%.2f",
        srv_s / units * 1e6, gen_s / units * 1e6, srv_s / wall, gen_s / wall, busy, idle, busy - srv_s / wall - gen_s / wall
      printf " gen_bound=%d sat_rate=%d", ncpu / (gen_s / units), ncpu / ((gen_s + srv_s) / units)
      printf " gen_reads_per_k=%.2f gen_writes_per_k=%.2f gen_syscalls_per_k=%.2f gen_cs_per_k=%.2f gen_read_b=%d\n",
        rd / k, wr / k, sc / k, cs / k, (rd > 0 ? rbytes / rd : 0)
    }' "$tmp/perf"
}

echo "# host: $ncpu cores  uptime:$(uptime | sed 's/.*load/ load/')  scale: $NB_SCALE  runs: $runs"
echo "# nice: $NB_NICE  autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none)"
echo "# A = $cmd_a ($(nb_version "$cmd_a"))"
echo "# B = $cmd_b ($(nb_version "$cmd_b"))"
for s in $scenarios; do
  : >"$tmp/$s"
  for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="A B"; else order="B A"; fi
    if [ "$with_feed" = 1 ] && [ "$s" != m ]; then order="$order F"; fi
    for x in $order; do
      case $x in A) c=$cmd_a ;; B) c=$cmd_b ;; F) c=feed_server.py ;; esac
      # not in a pipeline: nb_start's NB_PID must stay in this shell so
      # that the EXIT trap stops the server if the run is interrupted
      account "$s" "$x" "$c" >"$tmp/line"
      cat "$tmp/line"
      cat "$tmp/line" >>"$tmp/$s"
    done
  done
  # medians per server, then the generator's bound against 1.25 x B's rate
  awk -v ncpu="$ncpu" '
    function med(arr, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j - 1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j - 1]; arr[j - 1] = t }
      return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    }
    {
      x = $3; n[x]++
      for (i = 4; i <= NF; i++) { split($i, kv, "="); v[x, kv[1], n[x]] = kv[2]; keys[kv[1]] = 1 }
      s = $2
    }
    END {
      split("rate srv_us gen_us srv_cores gen_cores busy idle other gen_bound sat_rate gen_reads_per_k gen_syscalls_per_k gen_cs_per_k gen_read_b", ks, " ")
      for (x in n) {
        line = sprintf("median %s %-10s", s, x)
        for (q = 1; q in ks; q++) {
          for (r = 1; r <= n[x]; r++) tmp[r] = v[x, ks[q], r] + 0
          m[x, ks[q]] = med(tmp, n[x])
          line = line sprintf(m[x, ks[q]] >= 1000 ? " %s=%d" : " %s=%.3g", ks[q], m[x, ks[q]])
        }
        print line
      }
      if (("A" in n) && ("B" in n))
        printf "bound %s gen_bound/B_rate=%.2f (target 1.25) A/B: rate=%.2f srv_us=%.2f gen_us=%.2f sat_rate=%.2f\n", s,
          (m["A", "gen_bound"] > m["B", "gen_bound"] ? m["A", "gen_bound"] : m["B", "gen_bound"]) / m["B", "rate"],
          m["A", "rate"] / m["B", "rate"],
          m["A", "srv_us"] / m["B", "srv_us"], m["A", "gen_us"] / m["B", "gen_us"], m["A", "sat_rate"] / m["B", "sat_rate"]
      if (("F" in n) && ("B" in n))
        printf "ceiling %s F/B rate=%.2f (target 1.25) A/F rate=%.2f F/B gen_us=%.2f\n", s,
          m["F", "rate"] / m["B", "rate"], m["A", "rate"] / m["F", "rate"], m["F", "gen_us"] / m["B", "gen_us"]
    }' "$tmp/$s"
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
