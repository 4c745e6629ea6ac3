#!/usr/bin/env bash
# Runs every test against real servers: installs what is missing (clickhouse-server, Chromium,
# CJK fonts, kcat), then go vet and go test. Tests start their own throwaway ClickHouse and
# in-process Kafka-protocol broker; nothing is mocked.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "deploy/test.sh: Go is required" >&2; exit 1; }
deploy/deps.sh --tests
echo "== go vet ./..."
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed on: $unformatted" >&2; exit 1; fi
echo "== go build for macOS and Windows (Linux is the deployment target; the code must still build elsewhere)"
GOOS=darwin go build ./... && GOOS=windows go build ./...
echo "== go test ./..."
# -p 2: two packages at a time on this 2-core machine; each package starts at most one ClickHouse.
go test -count=1 -p 2 -timeout 40m "$@" ./...
