#!/usr/bin/env bash
# The API contract as a TypeScript user meets it: generate a client from
# `pulse openapi` with openapi-typescript, type-check sample.ts (which uses
# it through openapi-fetch) under tsc --strict, and lint the document with
# Redocly CLI (0 errors). Tools are pinned in package-lock.json.
# PULSE_BIN may name a built pulse binary; otherwise one is built.
set -euo pipefail
cd "$(dirname "$0")"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

bin="${PULSE_BIN:-}"
if [ -z "$bin" ]; then
  bin="$(mktemp -d)/pulse"
  trap 'rm -rf "$(dirname "$bin")"' EXIT
  (cd ../.. && go build -o "$bin" ./cmd/pulse)
fi

echo "-- npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "-- pulse openapi > openapi.json"
env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$bin" openapi > openapi.json

echo "-- openapi-typescript"
npx --no-install openapi-typescript openapi.json -o pulse.ts --silent 2>/dev/null || npx --no-install openapi-typescript openapi.json -o pulse.ts

echo "-- the sample has no any and no casts"
# Comments are dropped first: only code is checked.
if sed -e 's://.*$::' sample.ts | grep -nE '\bany\b|\bas +[A-Za-z{(\[]|[A-Za-z0-9_)\]]![.;,)]' ; then
  echo "sample.ts must not use any, casts or non-null assertions" >&2
  exit 1
fi

echo "-- tsc --strict --noEmit"
npx --no-install tsc -p tsconfig.json

echo "-- redocly lint"
npx --no-install redocly lint openapi.json --config redocly.yaml --format=summary
