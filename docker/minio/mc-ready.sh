#!/usr/bin/env bash
# `mc ready local` for the MinIO stand-in: exit 0 when the local server answers 200 on its
# readiness endpoint. Only that command exists here; the real mc is not part of this image.
set -euo pipefail
if [[ "$*" != "ready local" ]]; then
    echo "mc stand-in: only 'mc ready local' is implemented (got: mc $*)" >&2
    exit 2
fi
exec 3<>/dev/tcp/127.0.0.1/9000
printf 'GET /minio/health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r _ status _ <&3
exec 3<&-
[[ "${status}" == 200 ]]
