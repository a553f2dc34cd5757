"""The fault matrix, API side (issue 12): every scenario runs the same pod (numbered lines, then an XCom
result) in both modes while the API server misbehaves, and asserts what a user notices: the task state,
every line once and in order in the task log, the XCom, no pod left behind, one pod for the one try.

Each row also proves its fault was met (a rule's hits, or the re-list a 410 forces): a row whose fault
never fires proves nothing. docs/reliability.md shows this table (``test_the_docs_show_this_matrix``
checks it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.matrix import (
    Expected,
    WhenRunning,
    assert_outcome,
    new_namespace,
    numbered_dag,
)

MODES = ("sync", "deferrable")
#: What a cell of the docs' table says the row asserts in that mode; the checks themselves are listed
#: above the table (``assert_outcome`` in tests/reliability/matrix.py, and the fault met).
OUTCOME = "task {state}, every check holds"

#: ``(cluster, namespace, pod_name)`` -> the id of the fault rule added, or None for a one-off action.
Action = Callable[[Any, str, str], Any]


@dataclass(frozen=True)
class Row:
    id: str
    #: What happens, as docs/reliability.md says it.
    fault: str
    #: Fault rules added before the task runs.
    before: tuple[Action, ...] = ()
    #: One action once the pod's container runs (and ``delay`` seconds more).
    during: Action | None = None
    delay: float = 0.5
    #: Request counts that show the fault was met, beyond the hits of its rules: ``{"list pods": 2}``.
    at_least: dict[str, int] = field(default_factory=dict)
    expected: Expected = field(default_factory=Expected)
    #: mode -> why this row fails there today (a known bug, marked xfail(strict=True) and reported).
    xfail: dict[str, str] = field(default_factory=dict)


def _rule(method: str, *args: Any, **kwargs: Any) -> Action:
    def add(cluster: Any, namespace: str, pod: str) -> Any:
        return getattr(cluster.faults, method)(*args, namespace=namespace, **kwargs)

    return add


def _rotate(cluster: Any, namespace: str, pod: str) -> None:
    cluster.rotate_logs(namespace, pod, "base", stall_followers=True)


def _pod_watched(cluster: Any) -> None:
    """Wait for the pod's watch to be open (in deferrable mode the trigger opens its own after the
    hand-over from the worker, which may come after the pod runs)."""
    deadline = time.monotonic() + 30
    while cluster.open_watches().get("pods", 0) < 1:
        assert time.monotonic() < deadline, "no watch of pods was opened"
        time.sleep(0.05)


def _expire(cluster: Any, namespace: str, pod: str) -> None:
    _pod_watched(cluster)
    assert cluster.faults.expire_watches("pods") >= 1


def _compact(cluster: Any, namespace: str, pod: str) -> None:
    _pod_watched(cluster)
    cluster.faults.compact("pods", close_watches=True)


ROWS = [
    Row(
        "429-bursts",
        "429 TooManyRequests with Retry-After: 1, on the first 3 requests and again on 3 requests once the "
        "pod runs",
        before=(_rule("fail", "*", "*", status=429, times=3, retry_after=1),),
        during=_rule("fail", "*", "*", status=429, times=3, retry_after=1),
    ),
    Row(
        "5xx-create-get",
        "500 on the pod's create; the retried create's answer lost (the pod exists); 503 on the get that "
        "adopts it, twice",
        before=(
            _rule("fail", "create", "pods"),
            _rule("reset_stream", "pods", verb="create"),
            _rule("fail", "get", "pods", status=503, times=2),
        ),
    ),
    Row(
        "5xx-list-watch",
        "500 on the list of the pod, twice; 503 on its watch, twice",
        before=(_rule("fail", "list", "pods", times=2), _rule("fail", "watch", "pods", status=503, times=2)),
    ),
    Row(
        "5xx-log-exec",
        "500 on the log request, twice; 503 on the exec that reads the XCom result, twice",
        before=(
            _rule("fail", "get", "pods/log", times=2),
            _rule("fail", "create", "pods/exec", status=503, times=2),
        ),
    ),
    Row(
        "503-delete",
        "503 on the pod's delete, 8 times (more than one call's 6 attempts)",
        before=(_rule("fail", "delete", "pods", status=503, times=8),),
    ),
    Row(
        "resets",
        "connections reset mid-watch (after 1.5 kB, twice), mid-log (after 60 bytes, about 8 lines, twice) "
        "and mid-exec (the XCom read, after 5 bytes)",
        before=(
            _rule("reset_stream", "pods", verb="watch", after_bytes=1500, times=2),
            _rule("reset_stream", "pods/log", after_bytes=60, times=2),
            _rule("reset_stream", "pods/exec", after_bytes=5),
        ),
    ),
    Row(
        "watch-410",
        "open pod watches end with ERROR 410 Expired once the pod runs",
        during=_expire,
        at_least={"list pods": 2},
    ),
    Row(
        "compaction",
        "the watch history compacted and open watches closed once the pod runs: the resume gets 410",
        during=_compact,
        at_least={"list pods": 2},
    ),
    Row(
        "log-rotation",
        "the container's log rotated during the follow, the open follow stalled (as old kubelets did)",
        during=_rotate,
        delay=1.0,
    ),
    Row(
        "unreachable-30s",
        "the API server unreachable for 30 s once the pod runs (open streams cut, connections reset), "
        "then back",
        during=_rule("unreachable", 30),
    ),
]


@pytest.fixture
def cluster(local_cluster_shared: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session's local cluster, as connection ``kubernetes_default``; each row uses a namespace of its
    own, to which its fault rules are scoped."""
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", local_cluster_shared.airflow_connection("default"))
    return local_cluster_shared


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault(row: Row, mode: str, cluster: Any, run_dag: Any, request: pytest.FixtureRequest) -> None:
    if mode in row.xfail:
        request.applymarker(pytest.mark.xfail(strict=True, reason=row.xfail[mode]))
    namespace = new_namespace(cluster, f"rel-{row.id}"[:40])
    rules = [rule for action in row.before if (rule := action(cluster, namespace, "")) is not None]
    during = WhenRunning(cluster, namespace, row.during or (lambda *_: None), delay=row.delay)
    with during:
        result = run_dag(numbered_dag(f"fault_{row.id.replace('-', '_')}", namespace))
    assert during.error is None
    assert during.fired.is_set()
    if isinstance(during.result, int):
        rules.append(during.result)
    assert_outcome(cluster, namespace, result, row.expected)
    hits = {rule["id"]: rule["hits"] for rule in cluster.faults.rules()}
    assert all(hits[rule] >= 1 for rule in rules), (rules, cluster.faults.rules())
    stats = cluster.stats()
    assert all(stats.get(key, 0) >= count for key, count in row.at_least.items()), stats


# -- docs/reliability.md shows this table ----------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN, END = (
    "<!-- api-faults matrix: generated from ROWS in tests/reliability/test_api_faults.py -->",
    "<!-- end -->",
)


def render_matrix() -> str:
    """The matrix as docs/reliability.md shows it: one line per row, one column per mode."""
    lines = [
        "| Scenario | Fault | sync | deferrable |",
        "|---|---|---|---|",
    ]
    for row in ROWS:
        cells = [row.xfail.get(mode) for mode in MODES]
        outcome = [
            f"xfail (known bug): {reason}" if reason else OUTCOME.format(state=row.expected.state)
            for reason in cells
        ]
        lines.append(f"| `{row.id}` | {row.fault} | {outcome[0]} | {outcome[1]} |")
    return "\n".join(lines)


def test_the_docs_show_this_matrix() -> None:
    text = DOC.read_text()
    assert BEGIN in text, f"{DOC.name}: marker missing"
    assert END in text.split(BEGIN, 1)[1], f"{DOC.name}: end marker missing"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == render_matrix(), f"update {DOC.name} between the markers with:\n{render_matrix()}"
