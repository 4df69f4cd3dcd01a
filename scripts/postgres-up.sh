#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is running and reachable; fail loudly if not.
# PostgreSQL tests must never be skipped quietly, so this exits non-zero rather than carry on.
set -euo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}

if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  echo "PostgreSQL is not answering on $host:$port; starting the local cluster" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" 2>/dev/null && break
    sleep 1
  done
fi

if ! psql -h "$host" -p "$port" -U postgres -d test -tAc 'select 1' >/dev/null; then
  echo "FATAL: cannot connect to PostgreSQL at $host:$port (user postgres, database test)" >&2
  exit 1
fi
echo "PostgreSQL is up at $host:$port"
