"""Build one corpus case with a given ``KubernetesPodOperator`` class, as a task run would.

Imported by both interpreters (ours and the upstream virtualenv's), so it uses only the standard library
and ``airflow.sdk`` (present in both). The steps are the task's: the DAG file makes the operator (with the
DAG's ``default_args`` and ``params``), the task renders its template fields with the context, then the pod
is built for that context. A mapped task (``expand``) is unmapped for the context's map index, as the
task runner does.
"""

from __future__ import annotations

import datetime
import traceback
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

LOGICAL_DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
RUN_ID = "manual__2024-01-01T00:00:00+00:00"


def build_case(
    case: dict[str, Any], operator_class: type, build: Callable[[Any, dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """``{"pod": <the pod as JSON>}`` or ``{"error": "<ExceptionType>: <message>"}``."""
    from airflow.sdk import DAG

    kwargs = dict(case["kwargs"])
    task_id = kwargs.pop("task_id", "task")
    try:
        with DAG(
            case.get("dag_id", "compat"),
            schedule=None,
            start_date=LOGICAL_DATE,
            default_args=case.get("default_args") or {},
            params=case.get("params") or {},
        ) as dag:
            if case.get("expand"):
                task = operator_class.partial(task_id=task_id, **kwargs).expand(**case["expand"])
            else:
                task = operator_class(task_id=task_id, **kwargs)
        overrides = case.get("context") or {}
        ti = SimpleNamespace(
            dag_id=dag.dag_id,
            task_id=task_id,
            run_id=overrides.get("run_id", RUN_ID),
            map_index=overrides.get("map_index", -1),
            try_number=overrides.get("try_number", 1),
        )
        context = {
            "ti": ti,
            "task_instance": ti,
            "run_id": ti.run_id,
            "dag": dag,
            "task": task,
            "dag_run": SimpleNamespace(conf={}),
            "params": dict(case.get("params") or {}),
            "logical_date": LOGICAL_DATE,
            "ds": LOGICAL_DATE.strftime("%Y-%m-%d"),
            "ds_nodash": LOGICAL_DATE.strftime("%Y%m%d"),
        }
        # A mapped task renders into the operator of its map index, which it puts in the context.
        task.render_template_fields(context)
        return {"pod": build(context["task"], context)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=-3)}
