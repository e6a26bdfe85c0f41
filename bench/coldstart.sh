#!/usr/bin/env bash
# Cold start to /readyz and idle RSS of `pulse serve` on embedded SQLite.
# Usage: bench/coldstart.sh [runs]   (targets: ready < 300 ms, idle RSS < 40 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
go build -trimpath -o bench/out/pulse ./cmd/pulse
go run ./bench/coldstart -bin bench/out/pulse -runs "${1:-10}"
