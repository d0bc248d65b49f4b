#!/usr/bin/env bash
# The Python peer of the NKey/JWT tests (tests/auth_nkeys.rs): nats-py with
# its nkeys extra, in a virtualenv under target/ (the tests look for
# target/nkeys-venv/bin/python). Idempotent and quiet; fails loudly.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/nkeys-venv
if "$venv/bin/python" -c 'import nats, nkeys' 2>/dev/null; then
  exit 0
fi
python=python3
for candidate in "$HOME/.pyenv/versions/3.13.0/bin/python3" python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
done
rm -rf "$venv"
mkdir -p target
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check 'nats-py==2.16.0' 'nkeys==0.2.1'
"$venv/bin/python" -c 'import nats, nkeys'
