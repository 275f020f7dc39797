#!/usr/bin/env bash
# `redis-server ARGS` (or just `-ARGS`) runs the server as `redis`, listening on every
# interface with protected mode off; anything else runs as given.
set -euo pipefail
if [[ "${1:-}" == -* ]]; then
    set -- redis-server "$@"
fi
if [[ "${1:-}" == redis-server ]]; then
    shift
    set -- redis-server --bind '* -::*' --protected-mode no --dir /data "$@"
    if [[ "$(id -u)" == 0 ]]; then
        chown redis:redis /data
        exec setpriv --reuid=redis --regid=redis --init-groups -- "$@"
    fi
fi
exec "$@"
