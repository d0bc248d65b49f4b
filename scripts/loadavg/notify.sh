#!/bin/sh
# Watch stats.loadaverage and, per host, warn once when the load per
# processor goes above 0.6 and clear the warning when it drops below 0.4:
# the classic tutorial's Node notifier as a shell pipeline over
# `nats-lite sub --raw`. Each message is "hostname load nproc".
#
#   scripts/loadavg/notify.sh            # prints WARNING/OK lines on stdout
#
# Environment: as publish.sh; LOADAVG_HIGH (0.6) and LOADAVG_LOW (0.4);
# LOADAVG_COUNT=N to stop after N messages (for tests and one-off runs).
set -eu
nl=${NATS_LITE:-nats-lite}
subject=${LOADAVG_SUBJECT:-stats.loadaverage}
count=${LOADAVG_COUNT:+--count $LOADAVG_COUNT}
# shellcheck disable=SC2086 # $count is empty or two words on purpose
"$nl" sub --raw $count "$subject" | awk -v high="${LOADAVG_HIGH:-0.6}" -v low="${LOADAVG_LOW:-0.4}" '
  NF == 3 && $3 > 0 {
    ratio = $2 / $3
    if (ratio > high && !(($1) in warned)) {
      printf "WARNING: %s load per processor %.2f > %s\n", $1, ratio, high
      warned[$1] = 1
      fflush()
    } else if (ratio < low && (($1) in warned)) {
      printf "OK: %s load per processor %.2f < %s\n", $1, ratio, low
      delete warned[$1]
      fflush()
    }
  }'
