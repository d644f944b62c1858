#!/usr/bin/env bash
# Starts, stops and describes the PostgreSQL 15 server (and a PgBouncer in
# front of it) that the PostgreSQL tests run against: a throwaway cluster in
# a state directory, listening on 127.0.0.1 only, on free ports.
#
#   scripts/postgres.sh start    initdb if needed, start postgres and pgbouncer
#                                unless they already run, wait until both answer
#   scripts/postgres.sh env      print the shell exports for the running ones:
#                                eval "$(scripts/postgres.sh env)"
#   scripts/postgres.sh status   exit 0 when both run and answer
#   scripts/postgres.sh restart  pg_ctl restart -m fast (same port; pgbouncer
#                                stays up and reconnects): for tests that
#                                restart the server under a running job
#   scripts/postgres.sh stop     stop both (no-op when they do not run); the
#                                state directory is the caller's to remove
#
# State (the cluster, ports, logs, pgbouncer's files) lives in
# $JOBGATE_POSTGRES_DIR, else
# ${JOBGATE_TEST_TMP:-${TMPDIR:-/tmp}}/jobgate-postgres; give each concurrent
# test run its own. Safe under set -euo pipefail, as root, without stdin;
# every command is idempotent.
#
# Access: the superuser `postgres` has no password and may log in only on
# the Unix socket inside the state directory (trust); TCP on 127.0.0.1 takes
# SCRAM passwords only, so a wrong password is refused as it would be in
# production. The tests' role is `jobgate` (password jobgate-test-pw), owner
# of the database `jobgate`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${JOBGATE_POSTGRES_DIR:-${JOBGATE_TEST_TMP:-${TMPDIR:-/tmp}}/jobgate-postgres}
bin=/usr/lib/postgresql/15/bin
pgbouncer_bin=/usr/sbin/pgbouncer
runuser=$(command -v runuser || echo /usr/sbin/runuser)  # sbin may not be on a CI's PATH
# Everything the server and pgbouncer write lives in $pg, owned by the user
# they run as; $state itself stays the caller's (it holds the lock).
pg="$state/pg"
data="$pg/data"
sock="$pg/sock"
pglog="$pg/postgres.log"
bouncer_ini="$pg/pgbouncer.ini"
bouncer_users="$pg/userlist.txt"
bouncer_log="$pg/pgbouncer.log"
bouncer_pidfile="$pg/pgbouncer.pid"
portfile="$state/port"
bouncer_portfile="$state/bouncer-port"
role=jobgate
password=jobgate-test-pw
database=jobgate

# Nothing of the caller's libpq setup may steer this script's own psql and
# pg_isready calls (a PGHOST or PGSERVICE would send them elsewhere).
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE PGOPTIONS \
  PGSSLMODE PGREQUIRESSL PGSSLCERT PGSSLKEY PGSSLROOTCERT PGSSLCRL PGGSSENCMODE PGTARGETSESSIONATTRS \
  PGCONNECT_TIMEOUT PGAPPNAME PGCHANNELBINDING PGREQUIREAUTH PGSYSCONFDIR PGTZ PGDATESTYLE PGCLIENTENCODING

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# PostgreSQL refuses to run as root, so as root the server, initdb, pg_ctl
# and pgbouncer run as the `postgres` system user of the Debian package.
# Their working directory is $pg: a cwd they cannot read (root's home) makes
# initdb and pg_ctl complain. 8>&-: nothing started here may inherit (and
# hold for its whole life) the state directory's lock.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd "$pg" && "$runuser" -u postgres -- "$@" 8>&-)
  else
    (cd "$pg" && "$@" 8>&-)
  fi
}

pg_ctl() { as_pg "$bin/pg_ctl" -D "$data" "$@"; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nobody listens on, below Linux's ephemeral range (32768-60999) so
# that outgoing connections never take it later. Another process may still
# take it before we bind: the callers retry on a collision.
free_port() {
  local p i
  for ((i = 0; i < 100; ++i)); do
    p=$((15000 + RANDOM % 17000))
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

server_running() { [[ -d "$data" ]] && pg_ctl status >/dev/null 2>&1; }

server_answers() {
  [[ -f "$portfile" ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(<"$portfile")" -t 2
}

# The pid of our pgbouncer, or nothing. A stale pid file (it died, or the pid
# was reused by something else) counts as not running.
bouncer_pid() {
  [[ -f "$bouncer_pidfile" ]] || return 0
  local pid cmdline=""
  pid=$(<"$bouncer_pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [[ -r "/proc/$pid/cmdline" ]] && cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ "$cmdline" == *pgbouncer*"$bouncer_ini"* ]]; then echo "$pid"; fi
}

# A real login through pgbouncer with the test role: proves the listener, the
# userlist and pgbouncer's own login to the server.
bouncer_answers() {
  [[ -f "$bouncer_portfile" ]] || return 1
  PGPASSWORD=$password PGCONNECT_TIMEOUT=3 "$bin/psql" -X -q -t -A -w \
    "postgres://$role@127.0.0.1:$(<"$bouncer_portfile")/$database" -c 'SELECT 1' 2>/dev/null | grep -qx 1
}

# Superuser SQL over the Unix socket in the state directory.
psql_super() { as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$(<"$portfile")" -U postgres "$@"; }

init_cluster() {
  [[ -f "$data/PG_VERSION" ]] && return 0
  rm -rf "$data"
  # trust on the local socket (only the postgres user and root can reach it:
  # $sock is 0700), SCRAM on TCP. C locale: the same collation everywhere.
  as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 \
    >"$pg/initdb.log" 2>&1 || {
    cat "$pg/initdb.log" >&2
    die "initdb failed (log above)"
  }
  echo "include = 'jobgate-test.conf'" >>"$data/postgresql.conf"
}

# The settings that make it a test server. The port is written here, so a
# restart keeps it.
write_server_conf() {
  local port=$1
  as_pg tee "$data/jobgate-test.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
# Up to 32 concurrent jobgate processes per test, each with its own
# connections, two test programs at once, and pgbouncer's pool.
max_connections = 300
# fsync=off: a test cluster is thrown away after every run and never has to
# survive an OS crash; it saves seconds of flushes on a busy VM.
# synchronous_commit and everything else about transactions stay default,
# so commits behave as in production up to the disk.
fsync = off
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
EOF
}

start_server() {
  if server_running && server_answers; then return 0; fi
  if server_running; then pg_ctl stop -m fast -w -t 30 >/dev/null 2>&1 || pg_ctl stop -m immediate -w >/dev/null 2>&1; fi
  init_cluster
  local port attempt
  port=""
  [[ -f "$portfile" ]] && port=$(<"$portfile")
  for ((attempt = 0; attempt < 5; ++attempt)); do
    if [[ -z "$port" ]] || port_in_use "$port"; then port=$(free_port); fi
    write_server_conf "$port"
    echo "$port" >"$portfile"
    if pg_ctl -w -t 60 -l "$pglog" start >/dev/null 2>&1; then
      local i
      for ((i = 0; i < 100; ++i)); do
        server_answers && return 0
        sleep 0.1
      done
      die "postgres started but does not answer on 127.0.0.1:$port (log: $pglog)"
    fi
    if ! grep -q 'could not bind\|Address already in use' "$pglog" 2>/dev/null; then
      tail -n 30 "$pglog" >&2 || true
      die "postgres did not start (log above: $pglog)"
    fi
    port=""  # someone took the port between the probe and the bind: another
  done
  die "postgres could not bind a port in 5 attempts (log: $pglog)"
}

# The test role and database, created once; the checks make it idempotent.
# CREATEROLE: a test makes a least-privilege role with the grants
# docs/backends/postgres.md gives and runs jobs as it.
ensure_role_and_database() {
  psql_super -d postgres <<EOF
SELECT 'CREATE ROLE $role LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role')\gexec
ALTER ROLE $role LOGIN CREATEROLE PASSWORD '$password';
SELECT 'CREATE DATABASE $database OWNER $role' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$database')\gexec
EOF
}

write_bouncer_conf() {
  local port=$1 server_port=$2
  # A plain-text password in the userlist lets pgbouncer answer the client's
  # SCRAM exchange and do its own SCRAM login to the server.
  as_pg tee "$bouncer_users" >/dev/null <<<"\"$role\" \"$password\""
  as_pg chmod 600 "$bouncer_users"
  as_pg tee "$bouncer_ini" >/dev/null <<EOF
[databases]
$database = host=127.0.0.1 port=$server_port dbname=$database

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
; no Unix socket: it would land in /tmp, outside the state directory
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $bouncer_users
; transaction pooling: consecutive transactions of one client may run on
; different server connections, so a backend must hold no session state
; (prepared statements, SET, advisory locks) across transactions.
pool_mode = transaction
server_reset_query =
max_client_conn = 200
default_pool_size = 20
logfile = $bouncer_log
pidfile = $bouncer_pidfile
EOF
}

start_bouncer() {
  local pid
  pid=$(bouncer_pid)
  if [[ -n "$pid" ]] && bouncer_answers; then return 0; fi
  [[ -z "$pid" ]] || stop_bouncer
  local port attempt i
  port=""
  [[ -f "$bouncer_portfile" ]] && port=$(<"$bouncer_portfile")
  for ((attempt = 0; attempt < 5; ++attempt)); do
    if [[ -z "$port" ]] || port_in_use "$port"; then port=$(free_port); fi
    write_bouncer_conf "$port" "$(<"$portfile")"
    echo "$port" >"$bouncer_portfile"
    as_pg rm -f "$bouncer_pidfile"
    local before=0
    [[ -f "$bouncer_log" ]] && before=$(wc -l <"$bouncer_log")
    # -d: it binds, then daemonizes into its own session (no terminal, no
    # caller's pipes: logfile above).
    if as_pg "$pgbouncer_bin" -d -q "$bouncer_ini" </dev/null >/dev/null 2>>"$pg/pgbouncer.stderr"; then
      for ((i = 0; i < 100; ++i)); do
        bouncer_answers && return 0
        sleep 0.1
      done
    fi
    if tail -n +"$((before + 1))" "$bouncer_log" 2>/dev/null | grep -q 'Address already in use'; then
      stop_bouncer
      port=""
      continue
    fi
    tail -n 20 "$bouncer_log" "$pg/pgbouncer.stderr" >&2 2>/dev/null || true
    stop_bouncer
    die "pgbouncer did not start or answer (log above)"
  done
  die "pgbouncer could not bind a port in 5 attempts (log: $bouncer_log)"
}

start() {
  [[ -x "$bin/postgres" && -x "$bin/initdb" ]] || die "PostgreSQL 15 is not installed in $bin (apt-get install postgresql)"
  [[ -x "$pgbouncer_bin" ]] || die "pgbouncer is not installed (apt-get install pgbouncer)"
  mkdir -p "$pg"
  if [[ $(id -u) -eq 0 ]]; then
    # mktemp directories are 0700: the postgres user must pass through
    # $state to reach its own $pg.
    chmod o+x "$state"
    chown postgres: "$pg"
    "$runuser" -u postgres -- test -x "$pg" || die "the postgres user cannot reach $pg: a parent directory is not traversable"
  fi
  chmod 700 "$pg"
  as_pg mkdir -p "$sock"
  as_pg chmod 700 "$sock"
  start_server
  ensure_role_and_database
  start_bouncer
  echo "postgres running at 127.0.0.1:$(<"$portfile"), pgbouncer (transaction pooling) at" \
    "127.0.0.1:$(<"$bouncer_portfile") (state $state)" >&2
}

stop_bouncer() {
  local pid i
  pid=$(bouncer_pid)
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; ++i)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  [[ -d "$pg" ]] || return 0
  stop_bouncer
  if server_running; then
    pg_ctl stop -m fast -w -t 30 >/dev/null 2>&1 || pg_ctl stop -m immediate -w -t 30 >/dev/null 2>&1 ||
      die "postgres did not stop (log: $pglog)"
  fi
}

restart() {
  server_running || die "not running (scripts/postgres.sh start)"
  pg_ctl restart -m fast -w -t 60 -l "$pglog" >/dev/null 2>&1 || {
    tail -n 30 "$pglog" >&2 || true
    die "pg_ctl restart failed (log above)"
  }
  local i
  for ((i = 0; i < 100; ++i)); do
    server_answers && return 0
    sleep 0.1
  done
  die "postgres restarted but does not answer (log: $pglog)"
}

# Everything a PostgreSQL test needs, and nothing of the user's own libpq
# setup: no PGHOST, PGSERVICE or PGSSLMODE that could redirect or alter a
# connection, and an empty password file instead of ~/.pgpass.
print_env() {
  server_running && [[ -f "$portfile" && -n "$(bouncer_pid)" && -f "$bouncer_portfile" ]] ||
    die "not running (scripts/postgres.sh start)"
  [[ -f "$state/pgpass-empty" && ! -s "$state/pgpass-empty" ]] || : >"$state/pgpass-empty"
  chmod 600 "$state/pgpass-empty"
  cat <<EOF
export JOBGATE_TEST_POSTGRES_URL=postgres://$role@127.0.0.1:$(<"$portfile")/$database
export JOBGATE_TEST_PGBOUNCER_URL=postgres://$role@127.0.0.1:$(<"$bouncer_portfile")/$database
export PGPASSWORD=$password
export PGPASSFILE=$state/pgpass-empty
export JOBGATE_TEST_POSTGRES_DIR=$state
export JOBGATE_POSTGRES_DIR=$state
export JOBGATE_TEST_POSTGRES_BIN=$bin
export JOBGATE_TEST_POSTGRES_RESTART="$root/scripts/postgres.sh restart"
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGREQUIRESSL PGSSLCERT PGSSLKEY PGSSLROOTCERT PGSSLCRL PGGSSENCMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT PGAPPNAME PGCHANNELBINDING PGREQUIREAUTH PGSYSCONFDIR PGTZ PGDATESTYLE PGCLIENTENCODING
EOF
}

# start, stop and restart hold the state directory's lock: two callers
# sharing a directory get one server, never two.
locked() {
  mkdir -p "$state"
  exec 8>"$state/lock"
  flock -w 120 8 || die "timed out waiting for the lock on $state"
  "$@"
}

case "${1:-}" in
  start) locked start ;;
  stop) locked stop ;;
  restart) locked restart ;;
  env) print_env ;;
  status)
    if ! server_running || ! server_answers; then die "postgres not running"; fi
    if [[ -z "$(bouncer_pid)" ]] || ! bouncer_answers; then die "pgbouncer not running"; fi
    echo "postgres running at 127.0.0.1:$(<"$portfile"), pgbouncer at 127.0.0.1:$(<"$bouncer_portfile")"
    ;;
  *)
    echo "usage: $0 start|stop|restart|env|status" >&2
    exit 2
    ;;
esac
