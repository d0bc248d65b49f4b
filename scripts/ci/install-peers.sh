#!/usr/bin/env bash
# Install every program the test suite uses as a peer, and fail loudly when
# one cannot be had: under CI (CI=true, as .ci/run sets it) a test whose
# peer is missing fails rather than skips, so a failed install is reported
# here, first, by name. Idempotent and quiet when everything is there.
#
# Peers: the real nats-server (clients are checked against it, and with
# NATS_TEST_REFERENCE=1 our expectations), tmux (drives `top`'s live view),
# bash, zsh, fish, man and groff (tests/ship_completions.rs), logrotate and
# systemd-analyze (tests/ship_dist.rs), python3 (the TLS probe of
# tests/tls_support.rs), musl-gcc (scripts/check-targets.sh's static build).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# program:Debian package
peers=(
  nats-server:nats-server tmux:tmux bash:bash zsh:zsh fish:fish man:man-db groff:groff-base
  logrotate:logrotate systemd-analyze:systemd python3:python3 x86_64-linux-musl-gcc:musl-tools
)

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
for peer in "${peers[@]}"; do
  have "${peer%%:*}" || missing+=("${peer#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: missing ${missing[*]}, and no apt-get to install them" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -q >/dev/null
"${sudo[@]}" apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends \
  "${missing[@]}" >/dev/null

still=()
for peer in "${peers[@]}"; do
  have "${peer%%:*}" || still+=("${peer%%:*}")
done
if [ ${#still[@]} -gt 0 ]; then
  echo "install-peers: still missing after the install: ${still[*]}" >&2
  exit 1
fi
echo "install-peers: installed ${missing[*]}"
