#!/usr/bin/env bash
# Install everything (into .venv, pinned by constraints.txt) and run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/hooks -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
