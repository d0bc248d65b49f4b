#!/usr/bin/env bash
# The load generator's own ceilings under scenarios a-e and j of
# ../shared/bench: the same natsbench runs (publishers and subscribers in one
# Go process), against scripts/load/feed_server.py, a fake server that throws
# the publishers' messages away and streams pre-encoded MSG frames to each
# subscriber as fast as its socket takes them. No broker can be measured
# faster than this, so for each scenario
#   best possible ratio against nats-server = ceiling / nats-server's rate
#
#   scripts/bench-ceilings.sh [-s "a b c d e j J"] [-p PORT]
#
# j (100 publishers on bench.p<i> -> 1 subscriber on bench.*) is fed only
# once the publishers have started (natsbench flow times from their start),
# with frames on bench.p0..p99 in turn; J is j with the publishers not read
# while the subscriber is fed (feed_server.py --hold-publishers: their bytes
# wait in the kernel and are drained after the feed, which delays the
# publishers' final PONG, so J's rate is a little pessimistic). Each line
# also gives the fake server's own CPU seconds per run (feed_cpu_s; for j
# the loaded phase only, else the whole run): it shares the 2 cores with
# the generator, so a ceiling is only meaningful while that stays small.
# NATSBENCH_SCALE multiplies the message counts as in compare.sh. Needs
# ../shared/bench/install.sh to have built the driver. Loopback only, a
# fixed number of messages per run, median of three runs. Run it under the
# bench lock (flock /tmp/nats-bench.lock ...); as root it runs niced in a
# session of its own (below; NATSBENCH_NICE=0 turns that off).
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${NATSBENCH_DIR:-$here/../../shared/bench}
# shellcheck source=/dev/null
. "$bench/lib.sh"
# shellcheck source=scripts/bench-session.sh
. "$here/bench-session.sh"
nb_own_session "${BASH_SOURCE[0]}" "$@"
nb_build
scenarios="a b c d e j"
port=4398
while getopts "s:p:" opt; do
  case $opt in
    s) scenarios=$OPTARG ;;
    p) port=$OPTARG ;;
    *) sed -n "2,/^set -eu$/{/^set -eu$/d;p}" "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
nb_port_busy "$port" && nb_die "127.0.0.1:$port in use"
feeder=
stop_feeder() { [ -z "$feeder" ] || { kill "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null || true; feeder=; }; }
trap stop_feeder EXIT

echo "# host: $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  scale: ${NATSBENCH_SCALE:-1}"
echo "# nice: $NB_NICE  autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none)"
# CPU seconds (user+system, all threads) of a running process
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
url="nats://127.0.0.1:$port"
for s in $scenarios; do
  feed_opts=()
  case $s in
    a) args=(pubsub -np 1 -ns 0) n=$(nb_scaled 2000000) size=16 ;;
    b) args=(pubsub -np 1 -ns 1) n=$(nb_scaled 2000000) size=16 ;;
    c) args=(pubsub -np 1 -ns 1) n=$(nb_scaled 1000000) size=1024 ;;
    d) args=(pubsub -np 1 -ns 4) n=$(nb_scaled 1000000) size=16 ;;
    e) args=(pubsub -np 4 -ns 4) n=$(nb_scaled 1000000) size=16 ;;
    j | J) args=(flow -np 100 -ns 1 -pubsubj 'bench.p%d' -subsubj 'bench.*' -figure recv)
       n=$(nb_scaled 1000000) size=16
       feed_opts=(--after-pub --msg-subject 'bench.p%d' --msg-subjects 100)
       [ "$s" = j ] || feed_opts+=(--hold-publishers) ;;
    *) nb_die "unknown scenario $s (a-e, j, J)" ;;
  esac
  case ${args[0]} in pubsub) args+=(-s "$url") ;; flow) args+=(-pub "$url") ;; esac
  rates=() cpus=() pubs=()
  for i in 1 2 3; do
    # a fresh feeder per run: --after-pub is armed once per process
    "${NB_SRV_RUN[@]}" python3 "$here/load/feed_server.py" --port "$port" --msgs "$n" --size "$size" --duration 600 \
      "${feed_opts[@]}" &
    feeder=$!
    "$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "feed server did not start"
    c0=$(cpu_s "$feeder")
    pids=()
    [ "${args[0]}" = flow ] && pids=(-pids "$feeder")
    out=$("${NB_RUN[@]}" timeout 120 "$NB" "${args[@]}" "${pids[@]}" -n "$n" -ms "$size" | grep '^RESULT') ||
      nb_die "scenario $s run $i failed"
    c1=$(cpu_s "$feeder")
    rates+=("$(nb_get rate "$out")")
    pubs+=("$(nb_get pub_rate "$out")")
    # flow measures the loaded phase itself; pubsub: the whole run
    cpu=$(nb_get srv_cpu_load_s "$out")
    [ -n "$cpu" ] || cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
    cpus+=("$cpu")
    stop_feeder
  done
  rate=$(printf '%s\n' "${rates[@]}" | sort -g | sed -n 2p)
  # pub_rate: messages published per second of the publishers' own span
  printf 'ceiling %s %-16s rate=%s runs=%s pub_rates=%s feed_cpu_s=%s\n' "$s" "$(nb_name "${s,,}")" "$rate" \
    "$(IFS=,; echo "${rates[*]}")" "$(IFS=,; echo "${pubs[*]}")" "$(IFS=,; echo "${cpus[*]}")"
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
