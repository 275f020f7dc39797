#!/usr/bin/env bash
# Build MinIO from source (its community edition ships no binaries any more) into the user
# cache, once. Needs Go; without it this prints why and exits 0 so the SeaweedFS tests still run.
set -euo pipefail
# The last commit of the archived minio/minio repository, as the Go proxy serves it.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
cache="${PAYWALL_CACHE:-$HOME/.cache/paywall-pipeline}/minio"
if [[ -x "$cache/minio" && -f "$cache/VERSION" && "$(cat "$cache/VERSION")" == "$MINIO_VERSION" ]]; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "[minio] Go is not installed: MinIO cannot be built here; tests use SeaweedFS only"
    exit 0
fi
echo "[minio] building github.com/minio/minio@$MINIO_VERSION (a few minutes, once)"
mkdir -p "$cache"
GOBIN="$cache" GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$cache/VERSION"
