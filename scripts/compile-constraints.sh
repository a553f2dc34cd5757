#!/usr/bin/env bash
# Re-pin the two constraints files after changing dependencies in pyproject.toml (after scripts/bootstrap.sh):
# - constraints.txt (.venv; scripts/bootstrap.sh) with kubernetes 37 (scripts/kubernetes37.in);
# - scripts/constraints-kubernetes36.txt (.venv-k8s36; scripts/test-kubernetes36.sh): the same pins, but
#   kubernetes 36 (scripts/kubernetes36.in).
# Existing pins are kept where they still fit (uv reads an output file as its preferences); extra arguments
# go to the first compile, e.g. `--upgrade` or `--upgrade-package airflow`. Then run `bash scripts/test.sh`
# and `bash scripts/test-kubernetes36.sh`, and commit the files.
set -euo pipefail
cd "$(dirname "$0")/.."

compile=(.venv/bin/python -m uv pip compile pyproject.toml --extra test --python-version 3.11 --no-header --quiet)
"${compile[@]}" -c scripts/kubernetes37.in -o constraints.txt "$@"
# The second file starts from the first, so that only kubernetes and what depends on it differ.
cp constraints.txt scripts/constraints-kubernetes36.txt
"${compile[@]}" -c scripts/kubernetes36.in -o scripts/constraints-kubernetes36.txt
