# Start a throwaway PostgreSQL server on loopback for the results-store tests.
#
# Usage:  source .ci/setup-postgres.sh      (exports BIRIL_TEST_POSTGRES_URL)
#    or:  bash .ci/setup-postgres.sh        (prints the URL on the last line)
#
# Installs Debian's PostgreSQL if no server binaries are present, then runs one cluster under
# /tmp owned by the `postgres` OS user (the server refuses to run as root). Idempotent: a
# second call finds the running server and only re-exports the URL. Written to be sourced, so
# it never calls `exit` or changes the caller's shell options.
#
# Settings (env): BIRIL_PG_DIR [/tmp/biril-pg], BIRIL_PG_PORT [55432],
#                 BIRIL_PG_USER [biril], BIRIL_PG_DB [biril].

_biril_pg_bindir() {
    # Newest installed server version's bin dir, or nothing.
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_biril_pg_as_owner() {
    # Run a server binary as the cluster owner (postgres when we are root).
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_biril_pg_setup() {
    local dir="${BIRIL_PG_DIR:-/tmp/biril-pg}"
    local port="${BIRIL_PG_PORT:-55432}"
    local user="${BIRIL_PG_USER:-biril}"
    local db="${BIRIL_PG_DB:-biril}"
    local bin
    bin="$(_biril_pg_bindir)"
    if [ -z "$bin" ]; then
        echo "setup-postgres: installing Debian's postgresql" >&2
        if [ "$(id -u)" != "0" ]; then
            echo "setup-postgres: PostgreSQL is absent and installing it needs root" >&2
            return 1
        fi
        apt-get update -qq >&2 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 \
            || { echo "setup-postgres: apt-get install postgresql failed" >&2; return 1; }
        bin="$(_biril_pg_bindir)"
    fi

    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        if [ ! -s "$dir/data/PG_VERSION" ]; then
            mkdir -p "$dir/data" "$dir/socket"
            [ "$(id -u)" = "0" ] && chown -R postgres: "$dir"
            _biril_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
                --encoding=UTF8 >"$dir/initdb.log" 2>&1 \
                || { echo "setup-postgres: initdb failed, see $dir/initdb.log" >&2; return 1; }
        fi
        _biril_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -k $dir/socket" start >&2 \
            || { echo "setup-postgres: server start failed, see $dir/server.log" >&2; return 1; }
    fi

    local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1
        -qtAX)
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$user'")" ]; then
        "${psql[@]}" -c "CREATE ROLE \"$user\" LOGIN CREATEDB PASSWORD '$user'" >&2 || return 1
    fi
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$db'")" ]; then
        "${psql[@]}" -c "CREATE DATABASE \"$db\" OWNER \"$user\"" >&2 || return 1
    fi

    BIRIL_TEST_POSTGRES_URL="postgresql+psycopg2://$user:$user@127.0.0.1:$port/$db"
    export BIRIL_TEST_POSTGRES_URL
    echo "$BIRIL_TEST_POSTGRES_URL"
}

_biril_pg_setup
