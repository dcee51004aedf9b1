#!/usr/bin/env bash
# Install (Debian's package) and start a local PostgreSQL for the test suite, and make sure the
# `skyalert` role the tests log in with exists. Idempotent; prints the admin URL on stdout.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "ensure-postgres: not root and no sudo; install and start PostgreSQL yourself and set" \
         "SKYALERT_TEST_POSTGRES_URL" >&2
    exit 1
  fi
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL from Debian's packages" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi

version=$(ls /etc/postgresql | sort -V | tail -1)
if ! $SUDO pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
fi

psql_admin() {
  if [ -n "$SUDO" ]; then sudo -u postgres psql -qtAc "$1"; else su postgres -c "psql -qtAc \"$1\""; fi
}
for _ in $(seq 1 50); do
  if psql_admin 'SELECT 1' >/dev/null 2>&1; then break; fi
  sleep 0.2
done
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='skyalert'")" != 1 ]; then
  psql_admin "CREATE ROLE skyalert LOGIN CREATEDB PASSWORD 'skyalert'" >&2
fi
port=$(psql_admin "SHOW port")
echo "postgresql+psycopg://skyalert:skyalert@127.0.0.1:${port}/postgres"
