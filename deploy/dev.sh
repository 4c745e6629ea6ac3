#!/usr/bin/env bash
# Runs portguard on one machine with embedded defaults: an in-process Kafka-protocol broker, a
# private ClickHouse, every role, a synthetic declaration stream and a simulated officer.
# Extra arguments go to `portguard dev` (see `portguard dev -h`). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "deploy/dev.sh: Go is required (https://go.dev/dl/)" >&2; exit 1; }
deploy/deps.sh
bin="${XDG_CACHE_HOME:-$HOME/.cache}/portguard/bin"
mkdir -p "$bin"
go build -o "$bin/portguard" ./cmd/portguard
exec "$bin/portguard" dev "$@"
