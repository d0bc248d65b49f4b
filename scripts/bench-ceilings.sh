#!/usr/bin/env bash
# The load generator's own ceilings under scenarios a-e of ../shared/bench:
# how fast the official Go client publishes into a server that does nothing
# (natsbench's sink) and how fast it receives from a server that does
# nothing but send (scripts/load/feed_server.py, pre-encoded MSG frames).
# No broker can be measured faster than these, so they bound the ratio any
# broker can show against nats-server:
#   a <= pub ceiling / nats-server's a
#   b-e (sent + received) <= 2 x sub ceiling / nats-server's rate (one sub)
#
#   scripts/bench-ceilings.sh [-n MSGS] [-p PORT]
#
# Needs ../shared/bench/install.sh to have built the driver. Loopback only,
# a fixed number of messages per run, median of three runs.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${NATSBENCH_DIR:-$here/../../shared/bench}
. "$bench/lib.sh"
nb_build
msgs=2000000
port=4398
while getopts "n:p:" opt; do
  case $opt in
    n) msgs=$OPTARG ;;
    p) port=$OPTARG ;;
    *) sed -n 2,14p "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
nb_port_busy "$port" && nb_die "127.0.0.1:$port in use"
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

median_rate() { # KEY: the middle of three RESULT lines' KEY=
  awk -v k="$1" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' |
    sort -g | sed -n 2p
}

echo "# host: $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  msgs: $msgs"
"$NB" sink -addr "127.0.0.1:$port" -dur 300s >/dev/null &
pids+=($!)
"$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "sink did not start"
for size in 16 1024; do
  rate=$(for i in 1 2 3; do
    timeout 60 "$NB" pubsub -s "nats://127.0.0.1:$port" -np 1 -ns 0 -n "$msgs" -ms "$size"
  done | median_rate pub_rate)
  printf 'ceiling pub_%-6s rate=%s\n' "${size}B" "$rate"
done
cleanup
pids=()

python3 "$here/load/feed_server.py" --port "$port" --msgs "$msgs" --size 16 --duration 300 &
pids+=($!)
"$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "feed server did not start"
rate=$(for i in 1 2 3; do
  timeout 60 "$NB" pubsub -s "nats://127.0.0.1:$port" -np 0 -ns 1 -n "$msgs" -ms 16
done | median_rate sub_rate)
printf 'ceiling sub_%-6s rate=%s\n' "16B" "$rate"
cleanup
pids=()
python3 "$here/load/feed_server.py" --port "$port" --msgs "$msgs" --size 1024 --duration 300 &
pids+=($!)
"$NB" probe -addr "127.0.0.1:$port" -timeout 5s >/dev/null || nb_die "feed server did not start"
rate=$(for i in 1 2 3; do
  timeout 60 "$NB" pubsub -s "nats://127.0.0.1:$port" -np 0 -ns 1 -n "$msgs" -ms 1024
done | median_rate sub_rate)
printf 'ceiling sub_%-6s rate=%s\n' "1KiB" "$rate"
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
