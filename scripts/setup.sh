#!/usr/bin/env bash
# Create .venv from the committed lock file. Re-running is fast and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
    echo "[setup] installing uv (the lock is installed with uv pip sync)"
    python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi

stamp=.venv/.installed
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x .venv/bin/python ]]; then
    exit 0
fi
if [[ ! -x .venv/bin/python ]]; then
    uv venv --quiet --python 3.11 .venv
fi
echo "[setup] installing the locked environment into .venv"
VIRTUAL_ENV=.venv uv pip sync --quiet requirements.lock
VIRTUAL_ENV=.venv uv pip install --quiet --no-deps -e . -e devtools
echo "$want" > "$stamp"
