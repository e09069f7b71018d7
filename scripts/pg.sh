#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and benchmarks: scripts/pg.sh start|stop|url|createdb NAME
set -euo pipefail
cd "$(dirname "$0")/.."
PGPORT=${YMT_PG_PORT:-54329}
PGDATA=${YMT_PGDATA:-/var/tmp/ymt-pg-$PGPORT}
SOCK=/tmp
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      mkdir -p "$PGDATA"; [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDATA"
      as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
        -o "-p $PGPORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
    fi
    for db in ymt_test ymt_bench; do
      as_pg psql -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
        | grep -q 1 || as_pg psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE $db"
      as_pg psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" -qc "CREATE EXTENSION IF NOT EXISTS postgis"
    done
    ;;
  stop) as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast stop ;;
  url) echo "postgresql://postgres@127.0.0.1:$PGPORT/${2:-ymt_test}" ;;
  *) echo "usage: $0 start|stop|url [db]" >&2; exit 2 ;;
esac
