#!/usr/bin/env bash
# The test command: makes sure everything is installed (idempotent), lints, then runs the whole suite on
# SQLite and again on PostgreSQL + PostGIS (the browser tests once, on SQLite). Types are checked (mypy) before.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
.venv/bin/ruff check src tests bench
.venv/bin/mypy src
PG_URL=$(scripts/pg.sh url)
echo "== SQLite =="
.venv/bin/pytest -q -p no:cacheprovider "$@"
echo "== PostgreSQL + PostGIS ($PG_URL) =="
YMT_TEST_DATABASE="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider -m "not browser" "$@"
