#!/usr/bin/env bash
# The UI test drives Debian's chromium (Playwright's own browser download does not work here).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[chromium] not installed and cannot apt-get install it here; the UI test will be skipped"
    exit 0
fi
echo "[chromium] installing Debian's chromium for the UI test"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
