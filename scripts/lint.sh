#!/usr/bin/env bash
# ruff (lint + format check) and mypy on the package; run after scripts/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check airflow_provider_k8spod tests benchmarks example_dags scripts
.venv/bin/ruff format --check airflow_provider_k8spod tests benchmarks example_dags scripts
.venv/bin/mypy
