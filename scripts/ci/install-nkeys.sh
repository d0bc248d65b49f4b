#!/usr/bin/env bash
# The peers of the NKey/JWT tests (tests/auth_nkeys.rs, tests/auth_jwt.rs):
# nats-py with nkeys in a virtualenv under target/ (the tests look for
# target/nkeys-venv/bin/python), and Go with nats-server's own JWT library
# from Debian (golang-github-nats-io-jwt-dev) for tests/data/jwt/go.
# Idempotent and quiet; fails loudly.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! dpkg -s golang-go golang-github-nats-io-jwt-dev >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o DPkg::Lock::Timeout=600 golang-go golang-github-nats-io-jwt-dev >/dev/null
fi
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
