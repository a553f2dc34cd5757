"""The pod's log file rotated during a follow, with the follow left hanging (the kubelet bug of kubernetes
#59902: a follow stops receiving output at a rotation and ends only with the container). Every line must
still reach the task log exactly once: the lines after the rotation are read once the container ends."""

from __future__ import annotations

import re
import time

import pytest

from tests.operators.kpo import WhenPod, dag_source, running

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")

LINES = 40


def test_lines_after_a_rotation_that_stalls_the_follow_are_not_lost(local_cluster_connection, run_dag):
    cluster = local_cluster_connection

    def rotate(c, pod):
        time.sleep(1.5)  # a dozen lines printed and followed
        c.rotate_logs("default", pod["metadata"]["name"], "base", stall_followers=True)

    with WhenPod(cluster, running(), rotate, timeout=300) as fault:
        result = run_dag(
            dag_source(
                "log_rotation_stall",
                f"""image="busybox:1.36",
                cmds=["sh", "-c", "for i in $(seq 1 {LINES}); do echo line $i; sleep 0.1; done"]""",
            )
        )
    assert fault.fired.is_set(), fault.error
    assert result.task_states == {"task": "success"}
    seen = [int(n) for n in re.findall(r"\[base\] line (\d+)", result.log)]
    assert seen == list(range(1, LINES + 1)), result.log[-3000:]
    assert cluster.pods() == []
