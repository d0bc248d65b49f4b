#!/usr/bin/env bash
# WebSocket test peers (tests/peer_websocket.rs), idempotent and quiet:
# - nats-py with aiohttp (its ws:// transport) in a venv at target/ws-venv;
# - the official JavaScript client @nats-io/nats-core and esbuild in
#   target/ws-js (the browser test bundles the client into its page);
# - chromium (Debian) for the headless browser test.
# Fails loudly when an install fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "install-ws: cannot install $*" >&2; exit 1; }
  apt-get install -y -q -o DPkg::Lock::Timeout=600 "$@" >/dev/null
}

py=""
for cand in python3.13 "$HOME/.pyenv/versions/3.13.0/bin/python3" python3; do
  if "$cand" -c "import sys" >/dev/null 2>&1; then py="$cand"; break; fi
done
[ -n "$py" ] || { echo "install-ws: no python3" >&2; exit 1; }
if [ ! -x target/ws-venv/bin/python ] ||
  ! target/ws-venv/bin/python -c 'import nats, aiohttp' >/dev/null 2>&1; then
  mkdir -p target
  "$py" -m venv --help >/dev/null 2>&1 || apt_install python3-venv
  "$py" -m venv target/ws-venv
  target/ws-venv/bin/pip install -q --disable-pip-version-check 'nats-py==2.*' 'aiohttp==3.*'
fi

command -v chromium >/dev/null 2>&1 || apt_install chromium
command -v chromium >/dev/null 2>&1 || { echo "install-ws: chromium missing" >&2; exit 1; }

if [ ! -f target/ws-js/node_modules/@nats-io/nats-core/package.json ] ||
  [ ! -x target/ws-js/node_modules/.bin/esbuild ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  mkdir -p target/ws-js
  (cd target/ws-js && [ -f package.json ] || echo '{"private":true}' > package.json)
  (cd target/ws-js && npm install --silent --no-audit --no-fund @nats-io/nats-core@3 esbuild@0.25)
fi
