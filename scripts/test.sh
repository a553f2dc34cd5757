#!/usr/bin/env bash
# Install everything (into .venv, pinned by constraints.txt) and run the test suite.
# Without arguments: every test except those marked `serial` on two xdist workers (each worker has its own
# local cluster and Airflow home), then the `serial` ones (real Airflow processes, deadlines) alone.
# Extra arguments go to one plain pytest run instead, e.g. `bash scripts/test.sh tests/hooks -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
status=0
.venv/bin/python -m pytest -n "${K8SPOD_TEST_WORKERS:-2}" -m "not serial" || status=$?
.venv/bin/python -m pytest -m serial || status=$?
exit "$status"
