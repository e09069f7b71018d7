#!/usr/bin/env bash
# The test command: makes sure everything is installed (idempotent), lints and type-checks, then runs the whole
# suite on SQLite (including the headless-browser tests) and on PostgreSQL + PostGIS. The two database runs go
# side by side (two cores: each run is mostly one process waiting on its own servers and database); every test
# has its own database, data directory and ports, so they do not meet. PostgreSQL's output streams, SQLite's log
# follows it; the command fails if either run fails. Tests that never meet the database (the pure core, parsers,
# property tests) run in the SQLite run only (tests/conftest.py: pytest_collection_modifyitems).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
.venv/bin/ruff check src tests bench
.venv/bin/mypy src
PG_URL=$(scripts/pg.sh url)
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
.venv/bin/pytest -q -p no:cacheprovider --durations=12 "$@" >"$LOGS/sqlite.log" 2>&1 &
SQLITE_PID=$!
echo "== PostgreSQL + PostGIS ($PG_URL); SQLite alongside, its log follows =="
set +e
YMT_TEST_DATABASE="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider --durations=12 -m "not browser" "$@"
PG_RC=$?
wait "$SQLITE_PID"
SQLITE_RC=$?
set -e
echo "== SQLite =="
cat "$LOGS/sqlite.log"
echo "SQLite: exit $SQLITE_RC; PostgreSQL: exit $PG_RC"
[ "$SQLITE_RC" -eq 0 ] && [ "$PG_RC" -eq 0 ]
