#!/usr/bin/env bash
# The load generator's own ceilings under scenarios a-e of ../shared/bench:
# the same natsbench runs (publishers and subscribers in one Go process),
# against scripts/load/feed_server.py, a fake server that throws the
# publishers' messages away and streams pre-encoded MSG frames to each
# subscriber as fast as its socket takes them. No broker can be measured
# faster than this, so for each scenario
#   best possible ratio against nats-server = ceiling / nats-server's rate
#
#   scripts/bench-ceilings.sh [-s "a b c d e"] [-p PORT]
#
# NATSBENCH_SCALE multiplies the message counts as in compare.sh. Needs
# ../shared/bench/install.sh to have built the driver. Loopback only, a
# fixed number of messages per run, median of three runs.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${NATSBENCH_DIR:-$here/../../shared/bench}
. "$bench/lib.sh"
nb_build
scenarios="a b c d e"
port=4398
while getopts "s:p:" opt; do
  case $opt in
    s) scenarios=$OPTARG ;;
    p) port=$OPTARG ;;
    *) sed -n 2,14p "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
nb_port_busy "$port" && nb_die "127.0.0.1:$port in use"
feeder=
stop_feeder() { [ -z "$feeder" ] || { kill "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null || true; feeder=; }; }
trap stop_feeder EXIT

echo "# host: $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  scale: ${NATSBENCH_SCALE:-1}"
for s in $scenarios; do
  case $s in
    a) args="-np 1 -ns 0" n=$(nb_scaled 2000000) size=16 ;;
    b) args="-np 1 -ns 1" n=$(nb_scaled 2000000) size=16 ;;
    c) args="-np 1 -ns 1" n=$(nb_scaled 1000000) size=1024 ;;
    d) args="-np 1 -ns 4" n=$(nb_scaled 1000000) size=16 ;;
    e) args="-np 4 -ns 4" n=$(nb_scaled 1000000) size=16 ;;
    *) nb_die "unknown scenario $s (a-e)" ;;
  esac
  python3 "$here/load/feed_server.py" --port "$port" --msgs "$n" --size "$size" --duration 600 &
  feeder=$!
  "$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "feed server did not start"
  # shellcheck disable=SC2086
  rate=$(for i in 1 2 3; do
    timeout 120 "$NB" pubsub -s "nats://127.0.0.1:$port" $args -n "$n" -ms "$size"
  done | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^rate=/) { split($i, kv, "="); print kv[2] } }' |
    sort -g | sed -n 2p)
  printf 'ceiling %s %-16s rate=%s\n' "$s" "$(nb_name "$s")" "$rate"
  stop_feeder
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
