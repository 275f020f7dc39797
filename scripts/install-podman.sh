#!/usr/bin/env bash
# The compose test (tests/e2e/test_compose.py) and `make compose-up` run docker-compose.yaml
# under Debian's podman with runc, on base images built locally with mmdebstrap (no image
# registry is reachable here). podman-compose itself comes from the lock (PyPI).
set -euo pipefail
missing=()
for tool in podman runc mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[podman] missing ${missing[*]} and cannot apt-get install here; the compose test will be skipped"
    exit 0
fi
echo "[podman] installing Debian's ${missing[*]} (about 30 s)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
