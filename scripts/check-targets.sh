#!/usr/bin/env bash
# Portable builds, as CI checks them (.ci/run) and as anyone can by hand:
#
#   1. a static binary for x86_64-unknown-linux-musl: clippy-clean, built,
#      checked to have no dynamic dependencies, and run;
#   2. Windows (x86_64-pc-windows-gnu) and macOS (x86_64-apple-darwin):
#      `cargo clippy --lib --bins -D warnings` for the target, which proves
#      every unix-only piece (libc, signals, syslog, /proc) has a fallback
#      that compiles, without warnings.
#
# A target rustup cannot install here (it downloads it) is skipped with a
# message. Checking a foreign target needs no cross toolchain: ring's build
# script compiles C, so a stand-in compiler writes empty objects (nothing
# is linked by `cargo clippy`). The musl build is real and needs musl-gcc
# (Debian's musl-tools).
#
# NL_MUSL_PROFILE=release builds the static binary with the release
# profile (slow: fat LTO); CI uses the dev profile.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
# Absolute: build scripts (ring's cc) run in their own directories.
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
profile=${NL_MUSL_PROFILE:-dev}

have_target() {
  if rustup target list --installed 2>/dev/null | grep -qx "$1"; then
    return 0
  fi
  if rustup target add "$1" >/dev/null 2>&1; then
    return 0
  fi
  echo "check-targets: skipped $1: rustup could not install it (no network?)"
  return 1
}

# 1. Static musl binary.
musl=x86_64-unknown-linux-musl
if have_target "$musl"; then
  if ! command -v x86_64-linux-musl-gcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q musl-tools >/dev/null 2>&1 || true
  fi
  if command -v x86_64-linux-musl-gcc >/dev/null 2>&1; then
    cargo clippy --locked --target "$musl" --lib --bins -- -D warnings
    cargo build --locked --profile "$profile" --target "$musl"
    dir=$profile; [ "$profile" = dev ] && dir=debug
    bin=$target_dir/$musl/$dir/nats-lite
    if ldd "$bin" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; then
      echo "check-targets: $bin is static ($(wc -c <"$bin") bytes)"
    else
      echo "check-targets: $bin is not static:"; ldd "$bin"; exit 1
    fi
    "$bin" --version | grep -q "$musl"
    "$bin" --version
  else
    echo "check-targets: skipped the musl build: no musl-gcc (apt-get install musl-tools)"
  fi
fi

# 2. Windows and macOS compile (and pass clippy) with a stand-in C compiler.
# (A fixed path, so that Cargo reuses ring's build from the last run.)
stand_in=$target_dir/check-targets
mkdir -p "$stand_in"
cat >"$stand_in/cc" <<'SH'
#!/bin/sh
# Compiling (-c) writes an empty object; anything else (the build script
# asking which compiler family this is) goes to the host's cc.
case " $* " in *" -c "*) ;; *) exec cc "$@" ;; esac
out=""
while [ $# -gt 0 ]; do
  [ "$1" = -o ] && { out=$2; shift; }
  shift
done
[ -n "$out" ] && : >"$out"
exit 0
SH
chmod +x "$stand_in/cc"
for target in x86_64-pc-windows-gnu x86_64-apple-darwin; do
  have_target "$target" || continue
  var=${target//-/_}
  env "CC_$var=$stand_in/cc" "AR_$var=ar" \
    cargo clippy --locked --target "$target" --lib --bins -- -D warnings
  echo "check-targets: $target compiles without warnings"
done
