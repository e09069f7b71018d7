#!/usr/bin/env bash
# Run every benchmark (pass --quick for a short run). Results are printed; bench/RESULTS.md records them.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh
scripts/pg.sh start >/dev/null
PG=$(scripts/pg.sh url ymt_bench)
for b in bench/bench_*.py; do
  echo "=== $b ==="
  case "$b" in
    *bench_codes.py|*bench_chain.py|*bench_spatial.py|*bench_ogc.py|*bench_ledger.py|*bench_tiles.py|*bench_claims.py) .venv/bin/python "$b" --pg "$PG" "$@" ;;
    *) .venv/bin/python "$b" "$@" ;;
  esac || echo "!!! $b failed"
done
