#!/usr/bin/env bash
# CI installs for the observability tests (tests/monitor_metrics.rs,
# tests/monitor_dashboard.rs): promtool and prometheus (Debian
# `prometheus`), headless Chromium and its WebDriver (`chromium`,
# `chromium-driver`). Idempotent and quiet; fails loudly when an install
# fails.
set -euo pipefail
missing=()
for tool in promtool:prometheus prometheus:prometheus chromium:chromium chromedriver:chromium-driver; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  # shellcheck disable=SC2207
  missing=($(printf '%s\n' "${missing[@]}" | sort -u))
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null ||
    { echo "install-obs: could not install ${missing[*]}" >&2; exit 1; }
fi
