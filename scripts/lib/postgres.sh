# Starts a throwaway PostgreSQL server on a free loopback port for the test run (sourced by scripts/test).
# PostgreSQL refuses to run as root: the data directory belongs to the postgres user and the server
# runs through runuser. Sets COFFER_TEST_POSTGRES_URL; stop_test_postgres removes everything.

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "PostgreSQL binaries not found under /usr/lib/postgresql" >&2; return 1; }
  echo "$dir"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_test_postgres() {
  local bindir port
  bindir=$(pg_bindir)
  port=$(free_port)
  TEST_PG_DIR=$(mktemp -d /tmp/coffer-pg.XXXXXX)
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$TEST_PG_DIR"
  as_postgres "$bindir/initdb" -D "$TEST_PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$TEST_PG_DIR/initdb.log" 2>&1 \
    || { cat "$TEST_PG_DIR/initdb.log" >&2; return 1; }
  as_postgres "$bindir/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $TEST_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$TEST_PG_DIR/server.log" >&2; return 1; }
  export COFFER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL for tests on 127.0.0.1:$port"
}

stop_test_postgres() {
  [ -n "${TEST_PG_DIR:-}" ] || return 0
  as_postgres "$(pg_bindir)/pg_ctl" -D "$TEST_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$TEST_PG_DIR"
  TEST_PG_DIR=
}
