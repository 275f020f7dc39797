#!/usr/bin/env bash
# Entrypoint of the apache/airflow stand-in: the behaviour of the official image's /entrypoint
# that this project's compose file relies on, written anew (not a copy).
#   IMAGE                      -> airflow (help)
#   IMAGE <subcommand> ...     -> airflow <subcommand> ...
#   IMAGE airflow <sub> ...    -> airflow <sub> ...
#   IMAGE bash -c '...'        -> bash -c '...'      IMAGE python ... -> python ...
# Before any of them the metadata database is waited for (CONNECTION_CHECK_MAX_COUNT tries,
# CONNECTION_CHECK_SLEEP_TIME seconds apart; 0 tries skips the wait), `_AIRFLOW_DB_MIGRATE`
# migrates it, and a scheduler or Celery worker waits for the Celery broker too.
set -euo pipefail

command_name="${1:-}"
max_tries="${CONNECTION_CHECK_MAX_COUNT:-20}"
pause="${CONNECTION_CHECK_SLEEP_TIME:-3}"
umask 0002
# pip in a derived image installs into the image's environment; never per-user at run time.
unset PIP_USER

retry() {
    local description="$1"; shift
    local try output
    for ((try = 1; ; try++)); do
        if output="$("$@" 2>&1)"; then
            return 0
        fi
        if ((try >= max_tries)); then
            echo "ERROR: ${description} still failing after ${max_tries} tries:" >&2
            echo "${output}" >&2
            exit 1
        fi
        sleep "${pause}"
    done
}

tcp_reachable() {  # URL: host and port of a broker URL must accept a TCP connection
    python - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
ports = {"redis": 6379, "rediss": 6379, "amqp": 5672, "pyamqp": 5672}
port = url.port or ports.get(url.scheme.split("+")[0], 0)
socket.create_connection((url.hostname or "localhost", port), timeout=5).close()
PY
}

if [[ "$(id -g)" != 0 ]]; then
    echo "ERROR: run this image with group 0 (user: \"\${AIRFLOW_UID}:0\"); got $(id -u):$(id -g)" >&2
    exit 1
fi
if ! whoami >/dev/null 2>&1; then
    export HOME="${AIRFLOW_USER_HOME_DIR}"  # an arbitrary uid (OpenShift style) with group 0
fi

db_reachable() {
    # The connection string from the environment is checked with SQLAlchemy alone (a second);
    # any other configuration (a _CMD or _SECRET variant, a config file) with `airflow db
    # check`, which costs a full Airflow import (several seconds of CPU).
    if [[ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]]; then
        python -c 'import os, sqlalchemy
engine = sqlalchemy.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
with engine.connect() as conn:
    conn.execute(sqlalchemy.text("SELECT 1"))'
    else
        airflow db check
    fi
}

if ((max_tries > 0)); then
    retry "the metadata database" db_reachable
fi
if [[ -n "${_AIRFLOW_DB_MIGRATE:-}" ]]; then
    airflow db migrate
fi

case "${command_name}" in
    bash) shift; exec /bin/bash "$@" ;;
    python) shift; exec python "$@" ;;
    airflow) shift; command_name="${1:-}" ;;
esac

# (The environment variables are read first: each `airflow config` call costs an Airflow import.)
if [[ "${command_name}" =~ ^(scheduler|celery)$ ]] && ((max_tries > 0)); then
    executor="${AIRFLOW__CORE__EXECUTOR:-$(airflow config get-value core executor)}"
    if [[ "${executor}" == *CeleryExecutor* ]]; then
        broker="${AIRFLOW__CELERY__BROKER_URL:-$(airflow config get-value celery broker_url)}"
        retry "connection to the Celery broker" tcp_reachable "${broker}"
    fi
fi

exec airflow "$@"
