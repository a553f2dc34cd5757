"""Run a DAG with the real Airflow ``dag.test()`` inside the test process, and report what a user sees.

``dag.test()`` in Airflow 3 needs the DAG to live in the dags folder, so each DAG source is written there
for the run and removed afterwards. The task log is what the task printed (captured from the file
descriptors), the task states and XComs are read back from the metadata database.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class DagResult:
    state: str
    task_states: dict[str, str]
    xcoms: dict[tuple[str, str], Any]
    log: str
    tries: dict[str, int] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, key))


def _task_logs(dag_id: str, run_id: str) -> str:
    """The task log files a worker wrote for this run (JSON lines), as the events' text."""
    import json

    root = Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    lines: list[str] = []
    for path in sorted(root.rglob("*.log")):
        lines.append(f"--- {path.relative_to(root)}")
        for raw in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                lines.append(raw)
                continue
            event = str(record.get("event", ""))
            lines.append(f"[{record.get('level', '')}] {event}")
            for key in ("error_detail", "exception"):
                if record.get(key):
                    lines.append(json.dumps(record[key]))
    return "\n".join(lines)


def _collect(dag_id: str, run_id: str) -> tuple[dict[str, str], dict[tuple[str, str], Any], dict[str, int]]:
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).all()
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in tis
        }
        tries = {ti.task_id: ti.try_number for ti in tis}
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id).all()
        xcoms = {}
        for row in rows:
            task = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            xcoms[(task, row.key)] = XComModel.deserialize_value(row)
    return states, xcoms, tries


@pytest.fixture
def run_dag(
    airflow_db: Path, capfd: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> Iterator[Callable[..., DagResult]]:
    """``run_dag(source, dag_id=..., use_executor=False)``: write the DAG file, ``dag.test()`` it, and
    return a :class:`DagResult`.

    In-process (default) the log is what the task printed. With ``use_executor=True`` tasks run as on a
    worker (LocalExecutor, a supervisor and a task process, against a real API server) and the log is the
    task log file the worker wrote, secrets masked as users see it.
    """
    written: list[Path] = []
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])

    def run(source: str, *, dag_id: str | None = None, **test_kwargs: Any) -> DagResult:
        module_name = f"k8spod_test_dag_{uuid.uuid4().hex[:12]}"
        path = dags_folder / f"{module_name}.py"
        path.write_text(textwrap.dedent(source))
        written.append(path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        from airflow.sdk import DAG

        dags = [v for v in vars(module).values() if isinstance(v, DAG)]
        dag = next(d for d in dags if dag_id is None or d.dag_id == dag_id)
        if test_kwargs.get("use_executor"):
            request.getfixturevalue("airflow_api_server")
        capfd.readouterr()
        dagrun = dag.test(**test_kwargs)
        out, err = capfd.readouterr()
        sys.stdout.write(out[-20000:])  # keep the tail visible in pytest's report on failure
        states, xcoms, tries = _collect(dag.dag_id, dagrun.run_id)
        log = _task_logs(dag.dag_id, dagrun.run_id) if test_kwargs.get("use_executor") else out + err
        return DagResult(str(dagrun.state), states, xcoms, log, tries)

    yield run
    for path in written:
        path.unlink(missing_ok=True)


@pytest.fixture(params=["sync", "deferrable"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once per mode, chosen as users choose a default: ``[operators] default_deferrable``."""
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(request.param == "deferrable"))
    return str(request.param)
