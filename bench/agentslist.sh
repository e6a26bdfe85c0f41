#!/usr/bin/env bash
# Authenticated GET /api/v1/agents?limit=20 (50 agents, SQLite) against a bare
# net/http floor, same run. Usage: bench/agentslist.sh [connections] [duration] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/agentslist -c "${1:-64}" -d "${2:-8s}" -rounds "${3:-3}"
