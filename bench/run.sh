#!/usr/bin/env bash
# Run every benchmark (pass --quick for a short run). Results are printed; record them in bench/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/pg.sh start >/dev/null
for b in bench/bench_*.py; do
  echo "=== $b ==="
  .venv/bin/python "$b" "$@" || echo "!!! $b failed"
done
