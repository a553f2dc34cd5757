"""Fixtures that need a real Airflow: a metadata database (sqlite, one per session or xdist worker) and,
for tests that run tasks the way a worker does, an Airflow API server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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
def airflow_db() -> Path:
    """The session's Airflow database, migrated and empty at the start of the session."""
    home = Path(os.environ["AIRFLOW_HOME"])
    db = home / "airflow.db"
    if not db.exists():
        shutil.copy(_template_db(), db)
    return db


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, however it dies (Linux)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def airflow_api_server(airflow_db: Path) -> Iterator[str]:
    """A real ``airflow api-server`` for the session, so tasks can run as on a worker (LocalExecutor:
    supervisor process + task process, the task log written to a file with secrets masked)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{url}/execution/"
    log_path = Path(os.environ["AIRFLOW_HOME"]) / "api-server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        deadline = time.monotonic() + 300  # minutes on a busy shared machine; seconds on an idle one
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
