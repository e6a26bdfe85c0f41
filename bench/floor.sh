#!/usr/bin/env bash
# Pulse's authenticated GET /api/v1/agents?limit=20 against its floor, the
# bare net/http peer server (HS256 JWT, modernc SQLite, encoding/json), both
# loaded by wrk -t2 -c64 --latency alternately; medians of req/s and p99.
#
# Usage: bench/floor.sh [peer-dir] [duration] [rounds]
#   peer-dir  the floor's source (its own go.mod); default ../shared/peers/floor,
#             relative to the repository root
#   duration  of each wrk run (default 10s); rounds: runs of each (default 3)
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peer=${1:-../shared/peers/floor}
dur=${2:-10s}
rounds=${3:-3}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
[ -f "$peer/go.mod" ] || { echo "no floor at $peer (pass its directory as the first argument)" >&2; exit 1; }
out="$root/bench/out"
mkdir -p "$out"
echo "building pulse and the floor ($peer)..."
go build -o "$out/pulse" ./cmd/pulse
(cd "$peer" && go build -o "$out/floor" .)
go build -o "$out/floorbench" ./bench/floor
"$out/floorbench" -pulse "$out/pulse" -floor "$out/floor" -d "$dur" -rounds "$rounds"
echo
echo "re-measure: bash bench/floor.sh $peer $dur $rounds"
