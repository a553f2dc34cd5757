"""``airflow k8spod cleanup-pods``: delete this provider's pods whose task instance is no longer running.

The decision for each pod is :func:`airflow_provider_k8spod.pod.orphans.judge`; this module only lists the
pods, reads the task instances from Airflow's metadata database, prints the table and deletes.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from airflow_provider_k8spod.pod.identity import MARKER_SELECTOR, TaskIdentity
from airflow_provider_k8spod.pod.orphans import Judgement, TaskInstanceRecord, judge

__all__ = ["cleanup_pods", "cleanup_pods_command", "format_age", "parse_min_age"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_COLUMNS = ("NAMESPACE", "NAME", "TASK", "TRY", "STATE", "AGE", "WHY")


def parse_min_age(text: str) -> float:
    """``--min-age``: seconds (``300``) or a number with a unit (``90s``, ``5m``, ``2h``, ``1d``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if match is None:
        raise SystemExit(
            f"--min-age: {text!r} is not a duration; give seconds (300) or a number with s, m, h or d (5m)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_age(seconds: float) -> str:
    """Like kubectl: ``42s``, ``7m12s``, ``3h5m``, ``2d4h``."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60}s"
    if total < 86400:
        return f"{total // 3600}h{total % 3600 // 60}m"
    return f"{total // 86400}d{total % 86400 // 3600}h"


def _task(identity: TaskIdentity) -> str:
    mapped = f"[{identity.map_index}]" if identity.map_index >= 0 else ""
    return f"{identity.dag_id}.{identity.task_id}{mapped} ({identity.run_id})"


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *rows]:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


_Key = tuple[str, str, str, int]


def _key(identity: TaskIdentity) -> _Key:
    return (identity.dag_id, identity.task_id, identity.run_id, identity.map_index)


def task_instance_records(identities: Iterable[TaskIdentity]) -> dict[_Key, TaskInstanceRecord | None]:
    """The state and try number of each pod's task instance (keyed by dag, task, run and map index), from
    Airflow's metadata database; None for a task instance it does not have."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[_Key, TaskInstanceRecord | None] = {}
    with create_session() as session:
        for key in {_key(i) for i in identities}:
            dag_id, task_id, run_id, map_index = key
            row = session.execute(
                select(TaskInstance.state, TaskInstance.try_number).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.map_index == map_index,
                )
            ).one_or_none()
            if row is None:
                found[key] = None
            else:
                state = None if row[0] is None else str(getattr(row[0], "value", row[0]))
                found[key] = TaskInstanceRecord(state, int(row[1] or 0))
    return found


def cleanup_pods(
    hook: Any,
    namespace: str | None,
    *,
    min_age_seconds: float,
    include_kept: bool = False,
    dry_run: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """List (``namespace`` None: every namespace), judge and delete; returns the exit code (1 when a
    deletion failed)."""
    from airflow_provider_k8spod.pod.identity import pod_task_identity

    now = now or datetime.datetime.now(datetime.UTC)
    out = out or sys.stdout  # the current one (not the one at import time)
    pods = list(hook.list_pods(namespace, label_selector=MARKER_SELECTOR))
    identities = [i for i in (pod_task_identity(p) for p in pods) if i is not None]
    records = task_instance_records(identities)
    judged: list[tuple[Mapping[str, Any], Judgement]] = []
    for pod in pods:
        identity = pod_task_identity(pod)
        judgement = judge(
            pod,
            records.get(_key(identity)) if identity is not None else None,
            now=now,
            min_age_seconds=min_age_seconds,
            include_kept=include_kept,
        )
        if judgement is not None and (judgement.delete or verbose):
            judged.append((pod, judgement))
    where = "every namespace" if namespace is None else f"namespace {namespace!r}"
    orphans = [(p, j) for p, j in judged if j.delete]
    if not judged:
        out.write(f"No pod of airflow-provider-k8spod to delete in {where}.\n")
        return 0
    rows = []
    for pod, judgement in judged:
        meta = pod.get("metadata") or {}
        why = judgement.why if judgement.delete else f"(left alone) {judgement.why}"
        rows.append(
            (
                str(meta.get("namespace")),
                str(meta.get("name")),
                _task(judgement.identity),
                str(judgement.identity.try_number),
                judgement.state,
                format_age(judgement.age_seconds),
                why,
            )
        )
    _table(rows, out)
    if dry_run:
        out.write(f"{len(orphans)} pod(s) would be deleted in {where} (dry run: nothing deleted).\n")
        return 0
    failed = 0
    for pod, _ in orphans:
        meta = pod.get("metadata") or {}
        try:
            hook.delete_pod(str(meta.get("name")), str(meta.get("namespace")))
        except Exception as exc:  # one failure must not stop the others
            failed += 1
            out.write(f"Could not delete pod {meta.get('namespace')}/{meta.get('name')}: {exc}\n")
    out.write(f"Deleted {len(orphans) - failed} pod(s) in {where}.\n")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """The command, from its parsed arguments."""
    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    min_age = parse_min_age(args.min_age)
    if args.all_namespaces and args.namespace:
        raise SystemExit("--namespace and --all-namespaces: give one of them")
    hook = KubernetesHook(args.conn_id)
    namespace = None if args.all_namespaces else (args.namespace or hook.get_namespace() or "default")
    return cleanup_pods(
        hook,
        namespace,
        min_age_seconds=min_age,
        include_kept=args.include_kept,
        dry_run=args.dry_run,
        verbose=args.verbose,
    )


def _command(args: argparse.Namespace) -> None:
    code = run(args)
    if code:
        raise SystemExit(code)


def _decorated() -> Any:
    from airflow.utils.cli import action_cli
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    return action_cli(providers_configuration_loaded(_command))


#: What ``airflow k8spod cleanup-pods`` calls (Airflow's CLI action logging and provider configuration).
cleanup_pods_command = _decorated()
