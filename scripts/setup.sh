#!/usr/bin/env bash
# One command that installs everything yimatong and its tests need, idempotently:
# system packages (PostgreSQL + PostGIS, GDAL's ogrinfo, Chromium, CJK fonts), the Python virtualenv
# with the package and its test extras, and a private PostgreSQL cluster for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for bin in initdb ogrinfo chromium; do
  case $bin in
    initdb) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql) ;;
    *) command -v "$bin" >/dev/null 2>&1 || need_apt+=("$bin") ;;
  esac
done
pgver() { ls -d /usr/lib/postgresql/*/ 2>/dev/null | sed 's#.*/postgresql/\([0-9]*\)/#\1#' | sort -n | tail -1; }
if [ -z "$(pgver)" ] || ! ls /usr/share/postgresql/"$(pgver)"/extension/postgis.control >/dev/null 2>&1; then
  need_apt+=(postgis)
fi
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need_apt+=(fonts)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)  # the TLS reverse-proxy test (tests/ops/test_nginx.py)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql gdal-bin chromium fonts-noto-cjk >/dev/null
  $SUDO apt-get install -y -qq "postgresql-$(pgver)-postgis-3" >/dev/null
  [ -x /usr/sbin/nginx ] || $SUDO apt-get install -y -qq nginx-light >/dev/null 2>&1 || $SUDO apt-get install -y -qq nginx >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

scripts/pg.sh start
echo "setup complete: .venv ready, PostgreSQL+PostGIS at $(scripts/pg.sh url)"
