#!/bin/sh
# Publish "hostname load1 nproc" on stats.loadaverage: the classic NATS
# load-average tutorial's publisher, with nats-lite alone. Run it from cron:
#
#   * * * * * NATS_URL=nats://127.0.0.1:4222 /path/to/scripts/loadavg/publish.sh
#
# Environment: NATS_URL (and NATS_USER/NATS_PASSWORD/NATS_TOKEN) as for nats-lite;
# NATS_LITE (default: nats-lite on PATH); LOADAVG_SUBJECT (default stats.loadaverage).
set -eu
nl=${NATS_LITE:-nats-lite}
subject=${LOADAVG_SUBJECT:-stats.loadaverage}
if [ -r /proc/loadavg ]; then
  load=$(cut -d' ' -f1 /proc/loadavg)
else
  # macOS and BSDs: "{ 1.23 1.10 0.98 }"
  load=$(sysctl -n vm.loadavg | awk '{ print $2 }')
fi
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
exec "$nl" pub --quiet "$subject" "$(hostname) $load $cpus"
