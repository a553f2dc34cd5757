"""Whether the pod is deleted at the end of the task (airflow_provider_k8spod.pod.lifecycle.cleanup_action):
``on_finish_action`` x the task's outcome x whether the main container finished."""

from __future__ import annotations

import pytest

from airflow_provider_k8spod.pod.lifecycle import ON_FINISH_ACTIONS, abandoned_pod_action, cleanup_action
from airflow_provider_k8spod.pod.status import Outcome, decide, main_container_done
from tests.pod.pods import pod

OUTCOMES = [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SKIP, None]  # None: no verdict (an error, a kill)

# (on_finish_action, outcome) -> delete, for a pod whose main container has finished.
DONE_TABLE = {
    ("delete_pod", Outcome.SUCCESS): True,
    ("delete_pod", Outcome.FAILURE): True,
    ("delete_pod", Outcome.SKIP): True,
    ("delete_pod", None): True,
    ("delete_succeeded_pod", Outcome.SUCCESS): True,
    ("delete_succeeded_pod", Outcome.FAILURE): False,  # kept to look into
    ("delete_succeeded_pod", Outcome.SKIP): False,
    ("delete_succeeded_pod", None): False,
    ("delete_active_pod", Outcome.SUCCESS): False,
    ("delete_active_pod", Outcome.FAILURE): False,
    ("delete_active_pod", Outcome.SKIP): False,
    ("delete_active_pod", None): False,
    ("keep_pod", Outcome.SUCCESS): False,
    ("keep_pod", Outcome.FAILURE): False,
    ("keep_pod", Outcome.SKIP): False,
    ("keep_pod", None): False,
}


def test_the_table_covers_every_action() -> None:
    assert {action for action, _ in DONE_TABLE} == set(ON_FINISH_ACTIONS)


@pytest.mark.parametrize(("action", "outcome"), list(DONE_TABLE))
def test_after_the_main_container_finished_on_finish_action_decides(
    action: str, outcome: Outcome | None
) -> None:
    assert cleanup_action(action, outcome, True) is DONE_TABLE[(action, outcome)]


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("action", ON_FINISH_ACTIONS)
def test_a_pod_whose_main_container_did_not_finish_is_always_deleted(
    action: str, outcome: Outcome | None
) -> None:
    # Start failure, timeout, kill, error: a pod left running after its task gave up is an orphan, even with
    # keep_pod.
    assert cleanup_action(action, outcome, False) is True


# Real pods: (snapshot, on_finish_action, deleted?)
@pytest.mark.parametrize(
    ("name", "action", "delete"),
    [
        ("succeeded", "delete_succeeded_pod", True),
        ("failed_exit_code", "delete_succeeded_pod", False),
        ("oom_killed", "delete_succeeded_pod", False),
        ("failed_exit_code", "keep_pod", False),
        ("succeeded", "delete_pod", True),
        # The start failed: the pod would pull or wait for a node forever.
        ("image_pull_backoff", "keep_pod", True),
        ("pending_unschedulable", "keep_pod", True),
        ("create_container_config_error", "delete_succeeded_pod", True),
        # Killed or timed out while running.
        ("running", "keep_pod", True),
        ("running_xcom_sidecar", "delete_active_pod", True),
        # A sidecar still runs but the main container succeeded: a success, deleted on success.
        ("xcom_main_done_sidecar_running", "delete_succeeded_pod", True),
        ("main_failed_user_sidecar_running", "delete_succeeded_pod", False),
    ],
)
def test_cleanup_of_real_pods(name: str, action: str, delete: bool) -> None:
    p = pod(name)
    done = main_container_done(p, "base")
    outcome = decide(p, main="base").outcome if done else None
    assert cleanup_action(action, outcome, done) is delete


# A pod of an earlier try found by a later one (not labelled already_checked), not adopted: (snapshot,
# on_finish_action) -> what the later try does with it. A finished one was left by a try that ended before
# its cleanup (its worker killed while resuming): on_finish_action applies as that cleanup would have.
@pytest.mark.parametrize(
    ("name", "action", "expected"),
    [
        ("succeeded", "delete_pod", "delete"),
        ("failed_exit_code", "delete_pod", "delete"),
        ("evicted", "delete_pod", "delete"),
        ("succeeded", "delete_succeeded_pod", "delete"),
        ("failed_exit_code", "delete_succeeded_pod", "keep"),
        ("succeeded", "keep_pod", "keep"),
        ("succeeded", "delete_active_pod", "keep"),  # finished: not active
        # Live, being deleted, or of unknown state: adoption's business, or no one's.
        ("running", "delete_pod", None),
        ("pending_unschedulable", "delete_pod", None),
        ("deleted_graceful_exit", "delete_pod", None),
        ("node_lost", "delete_pod", None),
    ],
)
def test_a_finished_pod_an_earlier_try_left_gets_its_on_finish_action(
    name: str, action: str, expected: str | None
) -> None:
    assert abandoned_pod_action(action, pod(name)) == expected
