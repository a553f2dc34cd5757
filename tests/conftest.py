"""Test-wide set-up: every test session gets its own throw-away AIRFLOW_HOME.

This runs before any test module imports Airflow (Airflow reads its configuration at import time), so a
developer's own AIRFLOW_HOME is never touched. Under pytest-xdist each worker gets its own home.
"""

from __future__ import annotations

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_home = tempfile.mkdtemp(prefix=f"k8spod-test-airflow-{_worker}-")
os.makedirs(os.path.join(_home, "dags"), exist_ok=True)
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_home, "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = "k8spod-tests-jwt-secret-" + "x" * 16
os.environ["AIRFLOW__API__SECRET_KEY"] = "k8spod-tests-secret-key"
# One Fernet key for every Airflow process of the session: otherwise the first ``airflow`` subprocess writes
# an airflow.cfg with a random key, and a connection it saves (the API server, from the UI) cannot be
# decrypted by this process (Airflow then reports the connection as not defined).
os.environ["AIRFLOW__CORE__FERNET_KEY"] = "azhzcG9kLXRlc3RzLWZlcm5ldC1rZXktMzItYnl0ZXM="
os.environ.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
os.environ.pop("KUBECONFIG", None)

pytest_plugins = ["tests.airflow_fixtures", "tests.dag_runner"]

# Tests that must not share the machine's two cores with another test: real Airflow processes (scheduler,
# triggerer, API server, task processes killed and restarted) and scenarios timed against a deadline
# (marked where they are defined, e.g. the fault matrix's worker and execution_timeout rows).
# `scripts/test.sh` runs everything else on two xdist workers, then these alone.
_SERIAL_DIRS = ("tests/e2e/",)
_SERIAL_FIXTURES = {"airflow_api_server", "triggerer"}


def pytest_collection_modifyitems(config: object, items: list[object]) -> None:
    import pytest

    for item in items:
        path = str(getattr(item, "path", ""))
        fixtures = set(getattr(item, "fixturenames", ()))
        if any(d in path for d in _SERIAL_DIRS) or fixtures & _SERIAL_FIXTURES:
            item.add_marker(pytest.mark.serial)  # type: ignore[attr-defined]


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Remove this session's throw-away AIRFLOW_HOME."""
    import shutil

    shutil.rmtree(_home, ignore_errors=True)
