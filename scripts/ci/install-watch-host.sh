#!/usr/bin/env bash
# What tests/watch_host.rs needs, installed idempotently and quietly:
# - promtool (Debian `prometheus`): checks the /metrics text;
# - a Python venv at target/watch-host-venv with moto[server] (the AWS API
#   emulator the CloudWatch sink is checked against), boto3 (reads the
#   metrics back) and prometheus_client (parses the /metrics text).
# Fails loudly when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o DPkg::Lock::Timeout=600 prometheus >/dev/null
  # The package starts a server; the tests need only promtool.
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null

venv=target/watch-host-venv
python=${WATCH_HOST_PYTHON:-python3}
# Debian's python3 makes venvs only with python3-venv (ensurepip).
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o DPkg::Lock::Timeout=600 python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import moto.server, boto3, prometheus_client, flask' 2>/dev/null; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "moto[server]>=5" boto3 prometheus_client
fi
"$venv/bin/python" -c 'import moto.server, boto3, prometheus_client'
