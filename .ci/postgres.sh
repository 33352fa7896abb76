#!/usr/bin/env bash
# Start a throw-away PostgreSQL for the audit-store tests and print its URL.
#
#   bash .ci/postgres.sh          install if needed, start, create role and database
#   bash .ci/postgres.sh stop     stop the server this script started
#
# Everything goes to stderr except ONE line on stdout, the last one:
#   CDS_TEST_POSTGRES_URL=postgresql+psycopg://cds:cds-ci@127.0.0.1:54329/cds_test
# so .ci/run can do:   pg_line=$(bash .ci/postgres.sh | tail -n 1) && export "$pg_line"
#
# Why a private data directory instead of the distribution's "main" cluster: it does not depend on
# how the image configured (or broke) /etc/postgresql, it never touches a real database on the
# machine, it listens on loopback only, and it is safe to run again (idempotent): an existing data
# directory is reused and a running server is left as it is.
# Debian only (apt-get); must run as root (it switches to the "postgres" user for the server).
set -euo pipefail

PORT="${CDS_CI_PG_PORT:-54329}"
BASE="${CDS_CI_PG_DIR:-/tmp/cds-ci-postgres}"
DATA="$BASE/data"
SOCK="$BASE/sock"
LOG="$BASE/server.log"
DB_USER="cds"
DB_PASS="cds-ci"          # loopback-only, throw-away test server: not a secret
DB_NAME="cds_test"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (CI does); it installs packages and switches to the postgres user"

find_bindir() {
    # Newest installed major version; Debian puts the server binaries outside PATH.
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"
}

BIN=$(find_bindir || true)
if [[ -z "$BIN" ]]; then
    log "PostgreSQL server not found: installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # postgresql-common would create and start a "main" cluster on 5432; we do not need it, so
    # tell it not to (the file is read by pg_createcluster during the package's postinst).
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/cds-ci.conf
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BIN=$(find_bindir) || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb was found"
fi
id postgres >/dev/null 2>&1 || die "the postgresql package did not create the 'postgres' user"

as_pg() { runuser -u postgres -- "$@"; }
pg_ctl() { as_pg "$BIN/pg_ctl" -D "$DATA" "$@"; }

if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$DATA/PG_VERSION" ]] && pg_ctl status >/dev/null 2>&1; then
        pg_ctl stop -m fast >&2
    else
        log "not running"
    fi
    exit 0
fi

major=$("$BIN/pg_ctl" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
if [[ -f "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" != "$major" ]]; then
    # A data directory left by another major version cannot be started: it is throw-away, re-create.
    log "data directory is from PostgreSQL $(cat "$DATA/PG_VERSION"), server is $major: re-creating it"
    pg_ctl stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$DATA"
fi

mkdir -p "$BASE" "$SOCK"
chown postgres:postgres "$BASE" "$SOCK"
chmod 700 "$BASE"

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb $DATA (PostgreSQL $major)"
    # peer auth on the private socket for the postgres superuser (used below to create the role),
    # password auth over TCP for the test user.
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
        || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
fi

ready() { "$BIN/pg_isready" -h "$SOCK" -p "$PORT" -t 3 >/dev/null 2>&1; }
if pg_ctl status >/dev/null 2>&1 && ready; then
    log "already running on port $PORT"
else
    if [[ -f "$DATA/postmaster.pid" ]]; then
        # A server killed with its machine session (or a zombie) leaves its lock files behind.
        log "cleaning up after a server that is no longer answering"
        pg_ctl stop -m immediate >/dev/null 2>&1 || true
        rm -f "$DATA/postmaster.pid" "$SOCK/.s.PGSQL.$PORT" "$SOCK/.s.PGSQL.$PORT.lock"
    fi
    log "starting on 127.0.0.1:$PORT"
    # fsync off: a CI database that never has to survive a crash; it makes schema set-up fast.
    pg_ctl start -w -t 60 -l "$LOG" \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >&2 || { tail -n 20 "$LOG" >&2 || true; die "server did not start (log: $LOG)"; }
fi

psql_su() { as_pg "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

if [[ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]]; then
    psql_su -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS'" >&2
fi
if [[ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]]; then
    psql_su -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2
fi

# Prove the URL we print works over TCP with the password, not just over the superuser's socket.
PGPASSWORD="$DB_PASS" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d "$DB_NAME" -qtA -c "SELECT 1" \
    >/dev/null || die "cannot connect as $DB_USER to $DB_NAME on 127.0.0.1:$PORT"

log "ready"
echo "CDS_TEST_POSTGRES_URL=postgresql+psycopg://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"
