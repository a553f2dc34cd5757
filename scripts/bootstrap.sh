#!/usr/bin/env bash
# Create .venv and install the package with its test extra, pinned by constraints.txt.
# Idempotent: re-running only installs what changed. Used by demo.sh, test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
    .venv/bin/python -m pip install --quiet "uv==$UV_VERSION"
fi
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python \
    -c constraints.txt -e ".[test]"
