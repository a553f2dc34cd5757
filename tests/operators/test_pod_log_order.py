"""With ``init_container_logs``, init containers' lines come out in the order the containers ran, before the
main container's, in both modes, however the log streams race; a native sidecar (an init container with
``restartPolicy: Always``) is followed alongside and holds nothing back."""

from __future__ import annotations

import pytest

from tests.operators.kpo import dag_source

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")


def test_init_container_lines_come_first_in_execution_order(run_dag):
    # Short init containers and a main container that prints at once make the race between the log
    # followers likely: before the fix, about one run in two had an init line after a main line.
    result = run_dag(
        dag_source(
            "init_log_order",
            """image="busybox:1.36", cmds=["sh", "-c", "echo main-1; echo main-2"],
            init_containers=[
                {"name": "first", "image": "busybox:1.36", "command": ["sh", "-c", "echo first-1; echo first-2"]},
                {"name": "mesh", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sh", "-c", "echo mesh-up; sleep 3600"]},
                {"name": "second", "image": "busybox:1.36", "command": ["sh", "-c", "echo second-1"]},
            ],
            init_container_logs=True, termination_grace_period=2,
            execution_timeout=datetime.timedelta(seconds=90)""",
        )
    )
    assert result.task_states == {"task": "success"}
    in_order = ["[first] first-1", "[first] first-2", "[second] second-1", "[base] main-1", "[base] main-2"]
    positions = [result.log.find(text) for text in in_order]
    assert -1 not in positions, result.log
    assert positions == sorted(positions), result.log
    # The sidecar started after `first` and runs on: its line is there, after first's.
    assert result.log.find("[mesh] mesh-up") > positions[1], result.log
