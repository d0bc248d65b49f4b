#!/usr/bin/env bash
# Benchmark nats-lite's server against nats-server, side by side, in one session.
#
#   scripts/bench.sh [-r PAIRS] [-s "a b f"] [-p PORT] [-m MSGS] [-q REQUESTS] [-A] [-B] [-n]
#
#   scripts/bench.sh                       # everything (takes a few minutes)
#   scripts/bench.sh -r 1 -s "b f" -B      # a quick look through compare.sh only
#   NATSBENCH_SCALE=4 scripts/bench.sh -r 5 -s "b e f"
#
# Run it from anywhere; it works from the repository root, with shared/ beside
# the repository (../shared/bench). Two parts, one after the other, so that
# they never load the machine at the same time:
#
# (a) ../shared/bench/compare.sh "nats-lite server ..." "nats-server ...": the
#     official Go client (nats-bench's logic) as the load generator, each
#     scenario A B, B A, A B..., a fresh server per run, on 127.0.0.1:PORT.
#     -r and -s are passed through, and NATSBENCH_SCALE (and compare.sh's other
#     NATSBENCH_* variables) through the environment. See its README for the
#     scenarios (a-h) and how to read the ratios.
# (b) `nats-lite bench` as the load generator, against a nats-lite server on
#     127.0.0.1:PORT (A) and a nats-server on 127.0.0.1:PORT+1 (B), both
#     started here and left idle while the other is measured, alternating
#     A B, B A, ... PAIRS times: pubsub (1 publisher + 1 subscriber, 16 B,
#     MSGS messages: msgs/s as nats-bench counts them, sent + received) and
#     request (REQUESTS sequential 16 B requests, the responder on a second
#     connection of the same process: p50 and p99 in µs). Then, per figure,
#     the median of A, of B, and A/B, the median of the per-pair ratios: for
#     msgs/s above 1 means nats-lite is faster, for latency below 1 means it
#     is quicker. Differences under ~15% (20% for latency) are noise on a
#     shared 2-core machine.
#
# Options:
#   -r PAIRS     pairs of runs per figure, in both parts (default 3)
#   -s "a b f"   compare.sh's scenarios (default: all)
#   -p PORT      the first of two loopback ports (default 4333); PORT and
#                PORT+1 must be free, or the script refuses to run
#   -m MSGS      messages of each pubsub run of (b) (default 1000000)
#   -q REQUESTS  requests of each request run of (b) (default 20000)
#   -A           skip part (a);  -B  skip part (b)
#   -n           do not build; use the release binary as it is
#
# Environment: CARGO_TARGET_DIR (where the release build goes, default
# target/), NATS_SERVER (the nats-server to compare with, default the one on
# PATH), NATSBENCH_NICE (niceness of the servers and the load in both parts;
# as compare.sh: -10 as root, so that other work on the machine yields, else
# 0).
#
# The script builds the release binary (cargo build --release) unless -n, and
# starts and stops only its own processes (by their pids, also on Ctrl-C);
# compare.sh does the same for its servers. Server logs of part (b) go to
# $TMPDIR/nats-lite-bench-sh.PID/.
set -u

usage() { sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

PAIRS=3
SCENARIOS=""
PORT=4333
MSGS=1000000
REQS=20000
RUN_A=1
RUN_B=1
BUILD=1
while getopts "r:s:p:m:q:ABnh" o; do
  case $o in
    r) PAIRS=$OPTARG ;;
    s) SCENARIOS=$OPTARG ;;
    p) PORT=$OPTARG ;;
    m) MSGS=$OPTARG ;;
    q) REQS=$OPTARG ;;
    A) RUN_A=0 ;;
    B) RUN_B=0 ;;
    n) BUILD=0 ;;
    h) usage 0 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

die() { echo "bench.sh: $*" >&2; exit 1; }
for v in "$PAIRS" "$PORT" "$MSGS" "$REQS"; do
  case $v in '' | *[!0-9]*) die "not a whole number: '$v'" ;; esac
done
[ "$PAIRS" -ge 1 ] || die "-r must be at least 1"
[ "$PORT" -ge 1 ] && [ "$PORT" -lt 65535 ] || die "-p must be a port below 65535"

cd "$(dirname "${BASH_SOURCE[0]}")/.." || die "cannot cd to the repository root"
COMPARE=../shared/bench/compare.sh
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server)}
[ -n "$NATS_SERVER" ] && [ -x "$NATS_SERVER" ] || die "nats-server not found (install it, or set NATS_SERVER)"
[ "$RUN_A" = 0 ] || [ -x "$COMPARE" ] || die "$COMPARE not found: shared/ must be beside the repository"

if [ "$(id -u)" = 0 ]; then NICE=${NATSBENCH_NICE:--10}; else NICE=${NATSBENCH_NICE:-0}; fi
export NATSBENCH_NICE=$NICE
case $NICE in '' | *[!0-9-]*) die "NATSBENCH_NICE is not a number: '$NICE'" ;; esac

PORT_A=$PORT
PORT_B=$((PORT + 1))
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PORT_A" "$PORT_B"; do
  port_busy "$p" && die "127.0.0.1:$p is in use: stop what listens there or pick another -p"
done

TARGET=${CARGO_TARGET_DIR:-target}
LITE=$TARGET/release/nats-lite
if [ "$BUILD" = 1 ]; then
  cargo build --release --bin nats-lite >&2 || die "cargo build --release failed"
fi
[ -x "$LITE" ] || die "$LITE not found: build it (cargo build --release) or drop -n"
LITE=$(cd "$(dirname "$LITE")" && pwd)/nats-lite

# Our servers (part b), stopped by pid on any exit.
PIDS=()
LOGS=${TMPDIR:-/tmp}/nats-lite-bench-sh.$$
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || continue
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# start NAME PORT CMD...: start a server, wait until its port answers.
start() {
  local name=$1 port=$2 pid i
  shift 2
  nice -n "$NICE" "$@" >"$LOGS/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited at start"; }
    port_busy "$port" && return 0
    sleep 0.1
  done
  tail -n 20 "$LOGS/$name.log" >&2
  die "$name did not listen on 127.0.0.1:$port within 15 s"
}

# median v1 v2 ...: numbers only ("?" skipped)
median() {
  printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "?"; exit }
                               m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                               printf "%.10g\n", m }'
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x ~ /^[0-9.]+$/ && y ~ /^[0-9.]+$/ && y != 0) printf "%.3f", x / y; else print "?" }'; }
join() { local IFS=,; echo "$*"; }

# pubsub URL -> msgs/s (or "?")
pubsub() {
  nice -n "$NICE" "$LITE" bench pubsub --msgs "$MSGS" --size 16 --no-progress --timeout 30s -s "$1" 2>>"$LOGS/bench.log" |
    sed -n 's/^NATS Pub\/Sub stats: \([0-9,]*\) msgs\/sec.*/\1/p' | tr -d , | grep . || echo "?"
}
# request URL -> "p50 p99" (or "? ?")
request() {
  local l
  l=$(nice -n "$NICE" "$LITE" bench request --responders 1 --msgs "$REQS" --size 16 --no-progress --timeout 30s -s "$1" 2>>"$LOGS/bench.log" | grep '^Latency')
  [ -n "$l" ] || { echo "? ?"; return; }
  echo "$(printf '%s\n' "$l" | sed -n 's/.*| p50 \([0-9.]*\) .*/\1/p') $(printf '%s\n' "$l" | sed -n 's/.*| p99 \([0-9.]*\) .*/\1/p')"
}

status=0
echo "# nats-lite: $("$LITE" --version 2>&1 | head -n 1)  ($LITE)"
echo "# nats-server: $("$NATS_SERVER" --version 2>&1 | head -n 1)  ($NATS_SERVER)"
echo "# nice: $NICE  host: $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

if [ "$RUN_A" = 1 ]; then
  echo
  echo "## (a) compare.sh: the Go client against A = nats-lite, B = nats-server (127.0.0.1:$PORT_A)"
  args=(-r "$PAIRS")
  [ -n "$SCENARIOS" ] && args+=(-s "$SCENARIOS")
  "$COMPARE" "${args[@]}" "$LITE server -a 127.0.0.1 -p $PORT_A" "$NATS_SERVER -a 127.0.0.1 -p $PORT_A" || status=1
fi

if [ "$RUN_B" = 1 ]; then
  echo
  echo "## (b) nats-lite bench against A = nats-lite (127.0.0.1:$PORT_A), B = nats-server (127.0.0.1:$PORT_B)"
  for p in "$PORT_A" "$PORT_B"; do
    port_busy "$p" && die "127.0.0.1:$p is in use now: stop what listens there or pick another -p"
  done
  mkdir -p "$LOGS"
  start nats-lite "$PORT_A" "$LITE" server -a 127.0.0.1 -p "$PORT_A"
  start nats-server "$PORT_B" "$NATS_SERVER" -a 127.0.0.1 -p "$PORT_B"
  URL_A=nats://127.0.0.1:$PORT_A
  URL_B=nats://127.0.0.1:$PORT_B
  ra=() rb=() rr=()
  la50=() lb50=() lr50=() la99=() lb99=() lr99=()
  for i in $(seq 1 "$PAIRS"); do
    if [ $((i % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
    for who in $order; do
      if [ "$who" = A ]; then url=$URL_A; else url=$URL_B; fi
      r=$(pubsub "$url")
      read -r p50 p99 < <(request "$url")
      echo "#   pair $i $who: pubsub msgs/s=$r  request p50_us=$p50 p99_us=$p99"
      if [ "$who" = A ]; then ra+=("$r"); la50+=("$p50"); la99+=("$p99")
      else rb+=("$r"); lb50+=("$p50"); lb99+=("$p99"); fi
    done
    rr+=("$(ratio "${ra[-1]}" "${rb[-1]}")")
    lr50+=("$(ratio "${la50[-1]}" "${lb50[-1]}")")
    lr99+=("$(ratio "${la99[-1]}" "${lb99[-1]}")")
  done
  case " ${ra[*]} ${rb[*]} ${la50[*]} ${lb50[*]} " in *" ? "*) status=1; echo "# some runs failed: see $LOGS/bench.log" ;; esac
  printf '%-22s msgs/s: A=%s B=%s A/B=%s [A:%s B:%s]\n' "pubsub_1x1_16B" \
    "$(median "${ra[@]}")" "$(median "${rb[@]}")" "$(median "${rr[@]}")" "$(join "${ra[@]}")" "$(join "${rb[@]}")"
  printf '%-22s p50_us: A=%s B=%s A/B=%s [A:%s B:%s] p99_us: A=%s B=%s A/B=%s [A:%s B:%s]\n' "request_16B" \
    "$(median "${la50[@]}")" "$(median "${lb50[@]}")" "$(median "${lr50[@]}")" "$(join "${la50[@]}")" "$(join "${lb50[@]}")" \
    "$(median "${la99[@]}")" "$(median "${lb99[@]}")" "$(median "${lr99[@]}")" "$(join "${la99[@]}")" "$(join "${lb99[@]}")"
  cleanup
fi
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
