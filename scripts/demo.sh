#!/usr/bin/env bash
# Start the service with demo data on http://127.0.0.1:8000 (SQLite under ./ymt-data unless YMT_DATABASE_URL is set).
# Creates a web login `demo` / `yimatong-2026` and prints the admin API token `demo-admin` (rotated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/ymt ] || scripts/setup.sh
.venv/bin/ymt init
.venv/bin/ymt demo
exec .venv/bin/ymt serve --host "${YMT_HOST:-127.0.0.1}" --port "${YMT_PORT:-8000}"
