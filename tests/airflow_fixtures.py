"""Fixtures that need a real Airflow metadata database (sqlite, one per test session or xdist worker)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _template_db() -> Path:
    """A migrated empty database, built once per Airflow version and reused across sessions."""
    import airflow

    cache = Path(os.environ.get("K8SPOD_TEST_CACHE", Path.home() / ".cache" / "k8spod-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    template = cache / f"airflow-{airflow.__version__}.db"
    if not template.exists():
        home = Path(os.environ["AIRFLOW_HOME"])
        env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/template.db"}
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        partial = template.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(home / "template.db", partial)
        partial.replace(template)
    return template


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """The session's Airflow database, migrated and empty at the start of the session."""
    home = Path(os.environ["AIRFLOW_HOME"])
    db = home / "airflow.db"
    if not db.exists():
        shutil.copy(_template_db(), db)
    yield db
