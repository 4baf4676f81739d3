#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the storage tests and print its URL on stdout.
# Installs Debian's postgresql when it is missing. Data lives in a temp dir owned by `postgres`.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=$(mktemp -d /tmp/sitrep-pg.XXXXXX)
chown postgres:postgres "$data"
port=${SITREP_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
runuser -u postgres -- "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$data" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -l "$data/log" -w start >&2
runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres sitrep_test
echo "postgresql+psycopg://postgres@127.0.0.1:$port/sitrep_test"
