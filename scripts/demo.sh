#!/usr/bin/env bash
# Install everything (into .venv) and run the demo DAG against the local cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py
