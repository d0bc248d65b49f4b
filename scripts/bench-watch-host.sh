#!/usr/bin/env bash
# The cost of `nats-lite watch-host`: its CPU and memory while files
# change under a watched tree at RATE files a second, and idle.
#
#   scripts/bench-watch-host.sh                # release build; 60 s idle, 30 s at 10,000 files/s
#   RATE=20000 LOAD_SECS=10 IDLE_SECS=20 scripts/bench-watch-host.sh
#   NL_BIN=target/debug/nats-lite scripts/bench-watch-host.sh
#
# The churners (JOBS python3 processes, 2 by default) spread files over 16
# directories; each second they create and write RATE files (create +
# close-after-write) and delete the RATE files of the second before, so
# the agent sees 3 x RATE counted changes a second. CPU is the agent's utime + stime over the phase (from
# /proc/PID/stat, per one core); RSS is VmRSS at the end and VmHWM (peak).
# The counts the agent reported are checked against what the churner did.
# Linux only (inotify, /proc).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-10000}
LOAD_SECS=${LOAD_SECS:-30}
IDLE_SECS=${IDLE_SECS:-60}
if [ -z "${NL_BIN:-}" ]; then
  cargo build --release --quiet
  NL_BIN=target/release/nats-lite
fi

work=$(mktemp -d)
agent=
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
tree=$work/tree
mkdir -p "$tree"
for i in $(seq 0 15); do mkdir -p "$tree/d$i"; done

"$NL_BIN" watch-host --interval 5s --json --disk "$work" "$tree" \
  >"$work/reports.jsonl" 2>"$work/agent.err" &
agent=$!
until grep -q watching "$work/agent.err" 2>/dev/null; do sleep 0.1; done

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$agent/stat"; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent/status"; }
measure() { # seconds -> "cpu% rss_kib hwm_kib"
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks)
  sleep "$1"
  t1=$(date +%s.%N); c1=$(cpu_ticks)
  echo "$(echo "($c1 - $c0) / $tck / ($t1 - $t0) * 100" | bc -l) $(status VmRSS) $(status VmHWM)"
}

echo "# watch-host cost: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$NL_BIN" --version)"

read -r cpu rss hwm < <(measure "$IDLE_SECS")
printf 'idle %3ss: cpu %.2f%%  rss %d KiB  peak %d KiB\n' "$IDLE_SECS" "$cpu" "$rss" "$hwm"

cat >"$work/churn.py" <<'PY'
import os, sys, time
tree, rate, secs, job, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
dirs = [os.path.join(tree, "d%d" % i) for i in range(16) if i % jobs == job]
prev, made, deleted, late = [], 0, 0, 0
start = time.monotonic()
for s in range(secs):
    cur = []
    for i in range(rate):
        p = os.path.join(dirs[i % len(dirs)], "f%d_%d_%d" % (job, s, i))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x")
        os.close(fd)
        cur.append(p)
    for p in prev:
        os.unlink(p)
    made += len(cur); deleted += len(prev); prev = cur
    wait = start + s + 1 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    else:
        late += 1
for p in prev:
    os.unlink(p)
deleted += len(prev)
print(made, deleted, late, time.monotonic() - start)
PY
# JOBS churners (default 2), each at RATE/JOBS, so that Python keeps up.
JOBS=${JOBS:-2}
pids=()
for j in $(seq 0 $((JOBS - 1))); do
  python3 "$work/churn.py" "$tree" $((RATE / JOBS)) "$LOAD_SECS" "$j" "$JOBS" >"$work/churn.$j" &
  pids+=($!)
done
# Over the whole churn, however long it takes on a busy machine.
t0=$(date +%s.%N); c0=$(cpu_ticks)
wait "${pids[@]}"
t1=$(date +%s.%N); c1=$(cpu_ticks)
cpu=$(echo "($c1 - $c0) / $tck / ($t1 - $t0) * 100" | bc -l)
rss=$(status VmRSS); hwm=$(status VmHWM)
cat "$work"/churn.[0-9]* | awk '{ m += $1; d += $2; l += $3; if ($4 > t) t = $4 } END { print m, d, l, t }' >"$work/churn.out"
read -r made deleted late took < "$work/churn.out"
printf 'load %3ss: cpu %.2f%%  rss %d KiB  peak %d KiB  (%d files created and %d deleted in %.1fs, %.0f files/s; %d late seconds)\n' \
  "$LOAD_SECS" "$cpu" "$rss" "$hwm" "$made" "$deleted" "$took" "$(echo "$made / $took" | bc -l)" "$late"

# Let the last report come out, then add up what the agent counted.
sleep 6
python3 - "$work/reports.jsonl" "$made" "$deleted" <<'PY'
import json, sys
c = m = d = 0; lost = False
for line in open(sys.argv[1]):
    f = json.loads(line)["files"][0]
    c += f["created"]; m += f["modified"]; d += f["deleted"]; lost |= f["lost_events"]
print("counted: created %d of %s, modified %d, deleted %d of %s%s"
      % (c, sys.argv[2], m, d, sys.argv[3], ", events were lost (queue overflow)" if lost else ""))
PY
