#!/usr/bin/env bash
# Installs the Debian packages portguard's development run and tests need, when missing.
# Usage: deploy/deps.sh [--tests]   (--tests adds Chromium and CJK fonts for the console tests)
set -euo pipefail

want=(clickhouse-server clickhouse-client kcat)
[ "${1:-}" = "--tests" ] && want+=(chromium fonts-noto-cjk docker-compose)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deploy/deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deploy/deps.sh: installing ${missing[*]} (Debian packages)…" >&2
export DEBIAN_FRONTEND=noninteractive
# The package's own service is not started (policy-rc.d denies it here); portguard starts a
# private instance with its own data directory and ports instead.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
