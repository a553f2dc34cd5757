"""Checks and normalisation of operator arguments that are not part of the pod (pure).

They run when the operator is created, i.e. when the DAG file is parsed, so a wrong value is reported by
the DAG import error naming the argument, not by a task that creates a pod and then fails (or worse,
silently behaves differently).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_k8spod.exceptions import PodSpecError

__all__ = [
    "ACTIVE_DEADLINE_MARGIN_SECONDS",
    "check_seconds",
    "check_startup_timeouts",
    "derived_active_deadline",
    "skip_exit_codes",
]

#: Seconds added to ``execution_timeout`` for the pod's derived ``activeDeadlineSeconds`` (docs/operator.md,
#: "A deadline Kubernetes enforces"). Airflow's own timeout must always act first: the margin covers what
#: Airflow does after its timeout (deleting the pod; in deferrable mode the task's re-entry on a worker, which
#: may wait in the executor's queue, and reads the XCom sidecar of a pod that finished just in time).
ACTIVE_DEADLINE_MARGIN_SECONDS = 300
_MAX_ACTIVE_DEADLINE = 2**31 - 1


def derived_active_deadline(
    execution_timeout: datetime.timedelta | None, margin_seconds: float = ACTIVE_DEADLINE_MARGIN_SECONDS
) -> int | None:
    """The pod's ``activeDeadlineSeconds`` when the task has an ``execution_timeout`` (pure), else None.

    ``execution_timeout`` rounded up plus ``margin_seconds``. Kubernetes counts the deadline from the pod's
    ``startTime`` (when a node accepted it), which is after the try started (Airflow counts from there):
    time before the pod was created and time waiting for a node only make Kubernetes' deadline later than
    Airflow's, never earlier. A timeout of 0 or less (Airflow fails such a task at once) gives None.
    """
    if execution_timeout is None:
        return None
    if not isinstance(execution_timeout, datetime.timedelta):
        raise PodSpecError(
            f"execution_timeout: expected a datetime.timedelta, got {execution_timeout!r} "
            f"({type(execution_timeout).__name__})"
        )
    seconds = execution_timeout.total_seconds()
    if seconds <= 0:
        return None
    return min(math.ceil(seconds) + math.ceil(max(0.0, margin_seconds)), _MAX_ACTIVE_DEADLINE)


def check_startup_timeouts(startup_timeout_seconds: Any, schedule_timeout_seconds: Any) -> None:
    """Raise :class:`PodSpecError` unless each is 0 (no limit) or a positive number of seconds
    (``schedule_timeout_seconds`` may be None: it then follows ``startup_timeout_seconds``)."""
    check_seconds("startup_timeout_seconds", startup_timeout_seconds)
    if schedule_timeout_seconds is not None:
        check_seconds("schedule_timeout_seconds", schedule_timeout_seconds)


def check_seconds(name: str, value: Any) -> None:
    """Raise :class:`PodSpecError` naming ``name`` unless ``value`` is 0 (no limit) or a positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PodSpecError(f"{name}: expected a number of seconds, got {value!r} ({type(value).__name__})")
    if math.isnan(value) or value < 0:
        raise PodSpecError(f"{name}: expected 0 (no limit) or a positive number of seconds, got {value!r}")


def check_recreate_attempts(value: Any) -> int:
    """``pod_recreate_attempts`` as an int: 0 (never) or a positive number; anything else raises
    :class:`PodSpecError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PodSpecError(
            f"pod_recreate_attempts: expected a whole number of pods (0: never recreate), got {value!r} "
            f"({type(value).__name__})"
        )
    if value < 0:
        raise PodSpecError(
            f"pod_recreate_attempts: expected 0 (never recreate) or a positive number, got {value!r}"
        )
    return value


def skip_exit_codes(value: Any) -> list[int]:
    """``skip_on_exit_code`` as a list of ints: None, an int, a numeric string, or a collection of those.

    Anything else (a float, a bool, a non-numeric string, a mapping) raises :class:`PodSpecError`: an exit
    code that can never equal an int would silently never skip.
    """
    if value is None:
        return []
    if isinstance(value, int | str) and not isinstance(value, bool):
        return [_exit_code(value, value)]
    if isinstance(value, Mapping | bytes) or not isinstance(value, Iterable):
        raise PodSpecError(
            f"skip_on_exit_code: expected an exit code or a list of exit codes, got {value!r} "
            f"({type(value).__name__})"
        )
    return [_exit_code(item, value) for item in value]


def _exit_code(item: Any, whole: Any) -> int:
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    if isinstance(item, str):
        text = item.strip()
        if text.lstrip("+-").isdigit() and text.isascii():
            return int(text)
    where = "" if item is whole else f" in {whole!r}"
    raise PodSpecError(
        f"skip_on_exit_code: {item!r}{where} is not an exit code; give ints such as 100 or [100, 101]"
    )
