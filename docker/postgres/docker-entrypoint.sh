#!/usr/bin/env bash
# First start: initdb with POSTGRES_USER as superuser (password POSTGRES_PASSWORD, required),
# create POSTGRES_DB, listen on all interfaces with scram authentication. Every start: run
# the server in the foreground as `postgres` (root only prepares the data directory).
set -euo pipefail

if [[ "${1:-postgres}" != postgres ]]; then
    exec "$@"
fi
shift || true
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-${user}}"

as_postgres() {
    if [[ "$(id -u)" == 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "${PGDATA}" /var/run/postgresql
    chown postgres:postgres "${PGDATA}" /var/run/postgresql
    chmod 700 "${PGDATA}"
fi

if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
    pwfile="$(mktemp)"
    chmod 644 "${pwfile}"
    printf '%s\n' "${POSTGRES_PASSWORD}" > "${pwfile}"
    as_postgres initdb --username="${user}" --pwfile="${pwfile}" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "${pwfile}"
    printf "listen_addresses = '*'\n" >> "${PGDATA}/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "${PGDATA}/pg_hba.conf"
    if [[ "${database}" != postgres ]]; then
        # A private server on the unix socket only, to create the database.
        as_postgres pg_ctl -D "${PGDATA}" -o "-c listen_addresses=''" -w start >/dev/null
        as_postgres psql -v ON_ERROR_STOP=1 --username="${user}" --dbname=postgres -q \
            --set=db="${database}" <<<'CREATE DATABASE :"db";'
        as_postgres pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
    fi
    echo "[postgres] initialised ${PGDATA}: role ${user}, database ${database}"
fi

if [[ "$(id -u)" == 0 ]]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "${PGDATA}" "$@"
fi
exec postgres -D "${PGDATA}" "$@"
