#!/usr/bin/env bash
# Leafnode throughput, reported only (no test depends on it): messages per
# second from a publisher on a leaf server to a subscriber on the hub, with
# a nats-lite leaf and with a nats-server leaf solicited to the same
# nats-server hub, alternated ROUNDS times (lite, ref, ref, lite, ...) so the
# machine's noise cancels in the ratio. Uses `nats-lite bench` for both.
#
#   cargo build --release && scripts/bench-leaf.sh
#   MSGS=2000000 SIZE=128 ROUNDS=5 scripts/bench-leaf.sh
#
# Prints each run's subscriber rate, the medians and lite/ref (> 1: the
# nats-lite leaf is faster). Loopback only; servers are stopped by PID.
set -euo pipefail

LITE=${LITE:-target/release/nats-lite}
NATS_SERVER=${NATS_SERVER:-nats-server}
MSGS=${MSGS:-1000000}
SIZE=${SIZE:-16}
ROUNDS=${ROUNDS:-3}

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_log() { # file needle
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    return 1
}

hub_port=$(free_port)
hub_leaf_port=$(free_port)
cat > "$dir/hub.conf" <<CONF
leafnodes { listen: 127.0.0.1:$hub_leaf_port }
CONF
"$NATS_SERVER" -a 127.0.0.1 -p "$hub_port" -c "$dir/hub.conf" > "$dir/hub.log" 2>&1 &
pids+=($!)
wait_log "$dir/hub.log" "Server is ready"

cat > "$dir/leaf.conf" <<CONF
leafnodes { remotes = [ { url: "nats-leaf://127.0.0.1:$hub_leaf_port" } ] }
CONF

run_once() { # kind -> prints msgs/s received on the hub
    local kind=$1 leaf_port log pid rate
    leaf_port=$(free_port)
    log="$dir/leaf-$kind.log"
    : > "$log"
    if [ "$kind" = lite ]; then
        "$LITE" server -a 127.0.0.1 -p "$leaf_port" -c "$dir/leaf.conf" > "$log" 2>&1 &
    else
        "$NATS_SERVER" -a 127.0.0.1 -p "$leaf_port" -c "$dir/leaf.conf" > "$log" 2>&1 &
    fi
    pid=$!
    pids+=("$pid")
    wait_log "$log" "Leafnode connection created"
    "$LITE" bench sub --no-progress --msgs "$MSGS" --size "$SIZE" \
        -s "nats://127.0.0.1:$hub_port" bench.leaf > "$dir/sub.out" 2>&1 &
    local sub=$!
    # Let the subscription's interest reach the leaf before publishing.
    sleep 1
    "$LITE" bench pub --no-progress --msgs "$MSGS" --size "$SIZE" \
        -s "nats://127.0.0.1:$leaf_port" bench.leaf > "$dir/pub.out" 2>&1
    wait "$sub" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rate=$(grep -o 'Sub stats: [0-9,]* msgs/sec' "$dir/sub.out" | tr -dc '0-9')
    echo "${rate:-0}"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

lite_rates=()
ref_rates=()
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="lite ref"; else order="ref lite"; fi
    for kind in $order; do
        r=$(run_once "$kind")
        echo "round $round $kind leaf: $r msgs/s (pub on leaf -> sub on nats-server hub, $MSGS x $SIZE B)"
        if [ "$kind" = lite ]; then lite_rates+=("$r"); else ref_rates+=("$r"); fi
    done
done
lite=$(printf '%s\n' "${lite_rates[@]}" | median)
ref=$(printf '%s\n' "${ref_rates[@]}" | median)
echo "median nats-lite leaf: $lite msgs/s"
echo "median nats-server leaf: $ref msgs/s"
awk -v a="$lite" -v b="$ref" 'BEGIN { if (b > 0) printf "lite/ref: %.2f\n", a / b }'
echo "load: $(uptime)"
