"""Table tests of the pod decisions (airflow_provider_k8spod.pod.status) over real pod JSON.

The pods are the snapshots in tests/pod/pods/ (captured from the local cluster by capture.py, plus
hand-written real-Kubernetes variants). Tests assert on what a user reads: the startup decision and its
message, the verdict's summary, the failure record's rendering.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from airflow_provider_k8spod.pod.status import (
    WAITING_REASONS,
    Outcome,
    StartupDecision,
    StartupTracker,
    WaitingClass,
    decide,
    event_is_warning,
    failure_record,
    format_event,
    main_container_done,
    main_container_started,
    started_in_events,
)
from tests.pod.pods import names, pod, snapshot

MAIN = "base"
XCOM = "airflow-xcom-sidecar"

PULL_ERROR = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/missing:1.0": '
    'failed to resolve reference "registry.example.com/team/missing:1.0": '
    "registry.example.com/team/missing:1.0: not found"
)
SCHEDULER_MESSAGE = (
    "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated "
    "taint {capture: node-lost}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
    "scheduling."
)
EVICTION_MESSAGE = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container base was "
    "using 1948Mi, request is 0, has larger consumption of memory."
)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


# -- helpers -----------------------------------------------------------------------------------------------


def status_of(p: dict[str, Any], name: str) -> dict[str, Any]:
    for key in ("containerStatuses", "initContainerStatuses"):
        for item in p["status"].get(key) or []:
            if item["name"] == name:
                found: dict[str, Any] = item
                return found
    raise AssertionError(f"no status for {name}")


def with_state(p: dict[str, Any], name: str, state: dict[str, Any]) -> dict[str, Any]:
    p = copy.deepcopy(p)
    status_of(p, name)["state"] = state
    return p


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    body = {"reason": reason}
    if message:
        body["message"] = message
    return {"waiting": body}


def run(tracker: StartupTracker, timeline: list[tuple[float, dict[str, Any]]]) -> list[StartupDecision]:
    return [tracker.observe(p, now) for now, p in timeline]


def test_every_snapshot_is_a_pod_with_events() -> None:
    found = names()
    assert len(found) >= 30
    for name in found:
        snap = snapshot(name)
        assert snap.pod["kind"] == "Pod", name
        assert snap.pod["metadata"]["name"], name
        assert snap.description, name
        if snap.source == "local-cluster":
            assert snap.events, f"{name}: a captured pod always has events (at least Scheduled)"


# -- waiting reasons ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "klass"),
    [
        ("InvalidImageName", WaitingClass.FATAL),
        ("ErrImageNeverPull", WaitingClass.FATAL),
        ("CreateContainerConfigError", WaitingClass.FATAL_AFTER_GRACE),
        ("ErrImagePull", WaitingClass.TRANSIENT),
        ("ImagePullBackOff", WaitingClass.TRANSIENT),
        ("CrashLoopBackOff", WaitingClass.TRANSIENT),
        ("ContainerCreating", WaitingClass.NORMAL),
        ("PodInitializing", WaitingClass.NORMAL),
    ],
)
def test_waiting_reason_classes(reason: str, klass: WaitingClass) -> None:
    assert WAITING_REASONS[reason] is klass


# -- one observation of each snapshot ----------------------------------------------------------------------

STARTED = [
    "running",
    "running_xcom_sidecar",
    "native_sidecar_running",
    "xcom_main_done_sidecar_running",
    "main_done_user_sidecar_running",
    "main_failed_user_sidecar_running",
    "on_failure_restarted_running",
    "succeeded",
    "native_sidecar_succeeded",
    "on_failure_restarted_succeeded",
    "failed_exit_code",
    "start_error",
    "oom_killed",
    "evicted",
    "evicted_graceful_exit_real",
    "deadline_exceeded",
    "deadline_exceeded_graceful_exit",
    "termination_message",
    "termination_message_fallback",
    "node_lost",
    "node_lost_real",
    "deleted_while_running",
    "deleted_graceful_exit",
    "deleted_force",
]


@pytest.mark.parametrize("name", STARTED)
def test_a_pod_whose_main_container_ran_or_that_finished_has_started(name: str) -> None:
    assert StartupTracker(MAIN).observe(pod(name), 0.0) == StartupDecision("started")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("pending_unschedulable", f"Unschedulable: {SCHEDULER_MESSAGE}"),
        ("pending_container_creating", "base: ContainerCreating"),
        ("err_image_pull", f"base: ErrImagePull ({PULL_ERROR})"),
        (
            "image_pull_backoff",
            'base: ImagePullBackOff (Back-off pulling image "registry.example.com/team/missing:1.0": '
            f"ErrImagePull: {PULL_ERROR})",
        ),
        (
            "image_pull_backoff_real",
            'base: ImagePullBackOff (Back-off pulling image "registry.example.com/team/missing:1.0": '
            f"ErrImagePull: {PULL_ERROR})",
        ),
        (
            "create_container_config_error",
            'base: CreateContainerConfigError (configmap "task-settings" not found)',
        ),
        ("init_running", "base: PodInitializing"),
        ("init_running_real", "base: PodInitializing"),
        (
            "init_crash_loop",
            "setup: CrashLoopBackOff (back-off 1s restarting failed container=setup "
            "pod=init-crash-loop_default(<uid>)); base: PodInitializing",
        ),
    ],
)
def test_a_pending_pod_is_waited_for_with_what_it_waits_for(name: str, shown: str) -> None:
    p = pod(name)
    shown = shown.replace("<uid>", p["metadata"]["uid"])
    assert StartupTracker(MAIN).observe(p, 0.0) == StartupDecision("wait", waiting=shown)


def test_invalid_image_name_fails_at_first_sight() -> None:
    decision = StartupTracker(MAIN).observe(pod("invalid_image_name"), 0.0)
    assert decision.kind == "failed"
    assert decision.reason == "InvalidImageName"
    assert decision.message == (
        "container 'base': InvalidImageName: Failed to apply default image tag "
        '"registry.example.com/Team/App:1.0": couldn\'t parse image name "registry.example.com/Team/App:1.0": '
        "invalid reference format: repository name (Team/App) must be lowercase"
    )


def test_err_image_never_pull_fails_at_first_sight() -> None:
    message = (
        'Container image "registry.example.com/team/missing:1.0" is not present with pull policy of Never'
    )
    p = with_state(pod("err_image_pull"), MAIN, waiting("ErrImageNeverPull", message))
    decision = StartupTracker(MAIN).observe(p, 0.0)
    assert (decision.kind, decision.reason) == ("failed", "ErrImageNeverPull")
    assert decision.message == f"container 'base': ErrImageNeverPull: {message}"


def test_a_failed_init_container_fails_the_start() -> None:
    decision = StartupTracker(MAIN).observe(pod("init_failed"), 0.0)
    assert decision == StartupDecision(
        "failed", "InitContainerFailed", "init container 'setup' failed with exit code 2 (Error)"
    )


def test_a_pod_that_finished_without_running_its_main_container_ends_the_wait() -> None:
    # e.g. evicted while its image was being pulled: decide() says why.
    p = with_state(pod("evicted"), MAIN, waiting("ContainerCreating"))
    assert StartupTracker(MAIN).observe(p, 0.0) == StartupDecision("started")


def test_a_failed_init_container_fails_the_start_even_before_the_phase_says_so() -> None:
    # The kubelet reports the terminated init container; phase Failed may come in a later update.
    p = pod("init_failed")
    p["status"]["phase"] = "Pending"
    decision = StartupTracker(MAIN).observe(p, 0.0)
    assert (decision.kind, decision.reason) == ("failed", "InitContainerFailed")
    assert decision.message == "init container 'setup' failed with exit code 2 (Error)"


def test_a_failed_init_container_with_its_message_names_it() -> None:
    p = pod("init_failed")
    p["status"]["phase"] = "Pending"
    status_of(p, "setup")["state"]["terminated"]["message"] = "migration 42 failed\n"
    decision = StartupTracker(MAIN).observe(p, 0.0)
    assert decision.message == "init container 'setup' failed with exit code 2 (Error): migration 42 failed"


def test_a_failed_init_container_is_retried_under_restart_policy_on_failure() -> None:
    p = pod("init_failed")
    p["status"]["phase"] = "Pending"
    p["spec"]["restartPolicy"] = "OnFailure"
    assert StartupTracker(MAIN).observe(p, 0.0).kind == "wait"


def test_a_fatal_reason_in_a_sidecar_names_the_sidecar() -> None:
    p = pod("running_xcom_sidecar")
    p = with_state(p, MAIN, waiting("ContainerCreating"))
    p = with_state(p, XCOM, waiting("InvalidImageName", 'couldn\'t parse image name "Busybox"'))
    decision = StartupTracker(MAIN).observe(p, 0.0)
    assert (decision.kind, decision.reason) == ("failed", "InvalidImageName")
    assert (
        decision.message
        == "container 'airflow-xcom-sidecar': InvalidImageName: couldn't parse image name \"Busybox\""
    )


def test_a_sidecar_stuck_pulling_does_not_hold_the_start_of_the_main_container() -> None:
    p = with_state(pod("running_xcom_sidecar"), XCOM, waiting("ImagePullBackOff", "Back-off pulling image"))
    tracker = StartupTracker(MAIN, startup_timeout=10)
    assert tracker.observe(p, 0.0).kind == "started"
    assert tracker.observe(p, 1000.0).kind == "started"


# -- time sequences ----------------------------------------------------------------------------------------


def test_create_container_config_error_fails_after_its_grace() -> None:
    p = pod("create_container_config_error")
    decisions = run(StartupTracker(MAIN), [(0.0, p), (10.0, p), (29.0, p), (31.0, p)])
    assert [d.kind for d in decisions] == ["wait", "wait", "wait", "failed"]
    assert decisions[-1].reason == "CreateContainerConfigError"
    assert decisions[-1].message == (
        "container 'base': CreateContainerConfigError for 31s: configmap \"task-settings\" not found"
    )


def test_config_error_grace_is_counted_from_when_the_error_appeared() -> None:
    creating = pod("pending_container_creating")
    error = pod("create_container_config_error")
    decisions = run(
        StartupTracker(MAIN), [(0.0, creating), (20.0, creating), (25.0, error), (54.0, error), (55.0, error)]
    )
    assert [d.kind for d in decisions] == ["wait", "wait", "wait", "wait", "failed"]
    assert "CreateContainerConfigError for 30s" in decisions[-1].message


def test_a_config_error_that_clears_starts_its_grace_again() -> None:
    creating = pod("pending_container_creating")
    error = pod("create_container_config_error")
    timeline = [(0.0, error), (20.0, error), (21.0, creating), (22.0, error), (51.0, error), (52.0, error)]
    decisions = run(StartupTracker(MAIN), timeline)
    assert [d.kind for d in decisions] == ["wait", "wait", "wait", "wait", "wait", "failed"]
    assert "for 30s" in decisions[-1].message


def test_config_error_grace_is_configurable() -> None:
    p = pod("create_container_config_error")
    decisions = run(StartupTracker(MAIN, config_error_grace=5), [(0.0, p), (4.0, p), (5.0, p)])
    assert [d.kind for d in decisions] == ["wait", "wait", "failed"]


def test_the_config_map_appearing_within_the_grace_lets_the_pod_start() -> None:
    decisions = run(
        StartupTracker(MAIN),
        [
            (0.0, pod("create_container_config_error")),
            (25.0, pod("create_container_config_error")),
            (27.0, pod("running")),
        ],
    )
    assert [d.kind for d in decisions] == ["wait", "wait", "started"]


@pytest.mark.parametrize("backoff", ["image_pull_backoff", "image_pull_backoff_real"])
def test_image_pull_errors_wait_until_the_startup_timeout_and_name_the_reason(backoff: str) -> None:
    err, back = pod("err_image_pull"), pod(backoff)
    timeline = [(0.0, err), (5.0, back), (30.0, err), (60.0, back), (120.0, back), (121.0, back)]
    decisions = run(StartupTracker(MAIN), timeline)
    assert [d.kind for d in decisions] == ["wait"] * 5 + ["failed"]
    last = decisions[-1]
    assert last.reason == "StartupTimeout"
    waiting_message = status_of(back, MAIN)["state"]["waiting"]["message"]
    assert last.message == (
        "the main container 'base' did not start within 120s of the pod being scheduled; "
        f"waiting: base: ImagePullBackOff ({waiting_message})"
    )


def test_an_image_that_becomes_available_within_the_startup_timeout_starts() -> None:
    decisions = run(
        StartupTracker(MAIN, startup_timeout=60),
        [(0.0, pod("err_image_pull")), (40.0, pod("image_pull_backoff")), (59.0, pod("running"))],
    )
    assert [d.kind for d in decisions] == ["wait", "wait", "started"]


def test_an_unknown_waiting_reason_is_bounded_by_the_startup_timeout() -> None:
    p = with_state(pod("pending_container_creating"), MAIN, waiting("SomeFutureReason", "details"))
    decisions = run(StartupTracker(MAIN, startup_timeout=30), [(0.0, p), (30.0, p), (31.0, p)])
    assert [d.kind for d in decisions] == ["wait", "wait", "failed"]
    assert decisions[-1].reason == "StartupTimeout"
    assert decisions[-1].message.endswith("waiting: base: SomeFutureReason (details)")


def test_a_crash_loop_seen_before_a_running_state_counts_as_started() -> None:
    # The main container ran and failed, and waits to be restarted (restartPolicy OnFailure): that is not
    # a start-up problem ("did not start" would be wrong); execution_timeout bounds an endless loop.
    p = pod("on_failure_crash_loop")
    decisions = run(StartupTracker(MAIN, startup_timeout=60), [(0.0, p)])
    assert [d.kind for d in decisions] == ["started"]


def test_a_slow_pull_without_error_is_bounded_by_the_startup_timeout() -> None:
    p = pod("pending_container_creating")
    decisions = run(StartupTracker(MAIN), [(0.0, p), (121.0, p)])
    assert decisions[-1] == StartupDecision(
        "failed",
        "StartupTimeout",
        "the main container 'base' did not start within 120s of the pod being scheduled; "
        "waiting: base: ContainerCreating",
    )


def test_unschedulable_past_the_schedule_timeout_fails_with_the_schedulers_message() -> None:
    p = pod("pending_unschedulable")
    decisions = run(StartupTracker(MAIN), [(0.0, p), (60.0, p), (120.0, p), (121.0, p)])
    assert [d.kind for d in decisions] == ["wait", "wait", "wait", "failed"]
    assert decisions[-1].reason == "ScheduleTimeout"
    assert (
        decisions[-1].message == f"the pod was not scheduled within 120s (Unschedulable: {SCHEDULER_MESSAGE})"
    )


def test_a_pod_not_yet_seen_by_the_scheduler_waits_and_times_out_without_a_reason() -> None:
    p = pod("pending_unschedulable")
    p["status"] = {"phase": "Pending"}
    decisions = run(StartupTracker(MAIN, schedule_timeout=10), [(0.0, p), (11.0, p)])
    assert decisions[0] == StartupDecision("wait", waiting="waiting to be scheduled")
    assert decisions[1] == StartupDecision(
        "failed", "ScheduleTimeout", "the pod was not scheduled within 10s"
    )


def test_the_startup_clock_starts_when_the_pod_is_scheduled() -> None:
    # 100 s unschedulable (within the 120 s schedule budget), then the image pull takes its own 120 s.
    unscheduled, pulling = pod("pending_unschedulable"), pod("image_pull_backoff")
    timeline = [
        (0.0, unscheduled),
        (100.0, unscheduled),
        (101.0, pulling),
        (200.0, pulling),
        (221.0, pulling),
        (222.0, pulling),
    ]
    decisions = run(StartupTracker(MAIN), timeline)
    assert [d.kind for d in decisions] == ["wait"] * 5 + ["failed"]
    assert decisions[-1].reason == "StartupTimeout"


def test_the_startup_timeout_does_not_apply_while_the_pod_waits_for_a_node() -> None:
    p = pod("pending_unschedulable")
    tracker = StartupTracker(MAIN, schedule_timeout=600, startup_timeout=60)
    decisions = run(tracker, [(0.0, p), (300.0, p), (600.0, p), (601.0, p)])
    assert [d.kind for d in decisions] == ["wait", "wait", "wait", "failed"]
    assert decisions[-1].reason == "ScheduleTimeout"
    assert decisions[-1].message.startswith("the pod was not scheduled within 600s (Unschedulable: 0/2 nodes")


def test_a_node_that_appears_within_the_schedule_timeout_lets_the_pod_start() -> None:
    decisions = run(
        StartupTracker(MAIN),
        [
            (0.0, pod("pending_unschedulable")),
            (110.0, pod("pending_container_creating")),
            (150.0, pod("running")),
        ],
    )
    assert [d.kind for d in decisions] == ["wait", "wait", "started"]


def test_init_containers_spend_the_startup_budget() -> None:
    p = pod("init_running")
    decisions = run(StartupTracker(MAIN, startup_timeout=30), [(0.0, p), (31.0, p)])
    assert decisions[-1].reason == "StartupTimeout"
    assert decisions[-1].message.endswith("waiting: base: PodInitializing")


# -- main container started / done ------------------------------------------------------------------------

# (snapshot, main container started, main container done)
PROGRESS = [
    ("pending_unschedulable", False, False),
    ("pending_container_creating", False, False),
    ("invalid_image_name", False, False),
    ("err_image_pull", False, False),
    ("image_pull_backoff", False, False),
    ("create_container_config_error", False, False),
    ("init_running", False, False),
    ("init_crash_loop", False, False),
    ("init_failed", False, True),  # the pod failed: the main container will never run
    ("running", True, False),
    ("running_xcom_sidecar", True, False),
    ("native_sidecar_running", True, False),
    ("on_failure_restarted_running", True, False),
    # Waiting to be restarted after a first run (restartPolicy OnFailure): it did start (its logs are
    # followed, restarts included), and it is not done.
    ("on_failure_crash_loop", True, False),
    # Sidecars never keep the task waiting: the main container's end is what counts.
    ("xcom_main_done_sidecar_running", True, True),
    ("main_done_user_sidecar_running", True, True),
    ("main_failed_user_sidecar_running", True, True),
    ("native_sidecar_succeeded", True, True),
    ("succeeded", True, True),
    ("on_failure_restarted_succeeded", True, True),
    ("failed_exit_code", True, True),
    ("start_error", True, True),
    ("oom_killed", True, True),
    ("evicted", True, True),
    ("deadline_exceeded", True, True),
    ("termination_message", True, True),
    ("deleted_while_running", True, True),
    ("deleted_force", True, False),
    # A lost node (phase Unknown): nothing more can be observed; waiting would hang the task.
    ("node_lost", True, True),
    # Real Kubernetes keeps the phase Running but marks the pod for deletion by the taint manager
    # (DisruptionTarget DeletionByTaintManager): no kubelet will report again, so it is done.
    ("node_lost_real", True, True),
]


@pytest.mark.parametrize(("name", "started", "done"), PROGRESS)
def test_main_container_started_and_done(name: str, started: bool, done: bool) -> None:
    p = pod(name)
    assert main_container_started(p, MAIN) is started
    assert main_container_done(p, MAIN) is done


def test_every_snapshot_has_a_progress_row_or_a_reason_not_to() -> None:
    covered = {row[0] for row in PROGRESS}
    # Variants of covered shapes that differ only in messages or timing.
    variants = {
        "image_pull_backoff_real",
        "init_running_real",
        "evicted_graceful_exit_real",
        "deadline_exceeded_graceful_exit",
        "deleted_graceful_exit",
        "termination_message_fallback",
    }
    assert set(names()) - covered - variants == set()


@pytest.mark.parametrize(
    ("restart_policy", "exit_code", "done"),
    [
        ("Never", 1, True),
        ("Never", 0, True),
        ("OnFailure", 1, False),  # the kubelet restarts it
        ("OnFailure", 137, False),
        ("OnFailure", 0, True),
        ("Always", 0, False),  # restarted even after success
    ],
)
def test_a_terminated_main_container_is_done_unless_the_kubelet_restarts_it(
    restart_policy: str, exit_code: int, done: bool
) -> None:
    p = pod("main_done_user_sidecar_running")  # phase Running: a sidecar still runs
    p["spec"]["restartPolicy"] = restart_policy
    status_of(p, MAIN)["state"]["terminated"]["exitCode"] = exit_code
    assert main_container_done(p, MAIN) is done


def test_the_main_container_is_found_by_name_not_position() -> None:
    p = pod("main_done_user_sidecar_running")
    p["status"]["containerStatuses"].reverse()
    assert main_container_done(p, MAIN) is True
    assert main_container_done(p, "istio-proxy") is False
    assert main_container_started(p, "no-such-container") is False


# -- verdict -----------------------------------------------------------------------------------------------

SUCCESSES = [
    "succeeded",
    "xcom_main_done_sidecar_running",  # the XCom sidecar still runs
    "main_done_user_sidecar_running",  # istio-proxy still runs
    "native_sidecar_succeeded",  # the native sidecar ended with 137 when the kubelet stopped it
    "on_failure_restarted_succeeded",  # failed once, succeeded on restart
]


@pytest.mark.parametrize("name", SUCCESSES)
def test_main_container_exit_0_is_success_whatever_the_sidecars_do(name: str) -> None:
    verdict = decide(pod(name), main=MAIN, events=snapshot(name).events)
    assert verdict.outcome is Outcome.SUCCESS
    assert verdict.summary == "container 'base' exited with 0"
    assert verdict.exit_code == 0
    assert verdict.record is None


# (snapshot, deleted, summary, exit code)
FAILURES = [
    ("failed_exit_code", False, "container 'base' terminated with exit code 3 (Error)", 3),
    ("main_failed_user_sidecar_running", False, "container 'base' terminated with exit code 1 (Error)", 1),
    (
        "start_error",
        False,
        "container 'base' could not start (StartError, exit code 128): failed to create containerd task: "
        "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container "
        'process: exec: "run-my-task": executable file not found in $PATH: unknown',
        128,
    ),
    (
        "oom_killed",
        False,
        "container 'base' was killed for using too much memory (OOMKilled, exit code 137)",
        137,
    ),
    (
        "evicted",
        False,
        f"container 'base' terminated with exit code 137 (Error); the pod failed: Evicted: {EVICTION_MESSAGE}",
        137,
    ),
    (
        "evicted_graceful_exit_real",
        False,
        "container 'base' exited with 0, but only after the pod was stopped "
        f"(Evicted: {EVICTION_MESSAGE}): its work may not be finished",
        0,
    ),
    (
        "deadline_exceeded",
        False,
        "container 'base' terminated with exit code 137 (Error); the pod failed: DeadlineExceeded: "
        f"{DEADLINE_MESSAGE} (activeDeadlineSeconds=2)",
        137,
    ),
    (
        "deadline_exceeded_graceful_exit",
        False,
        "container 'base' exited with 0, but only after the pod was stopped "
        f"(DeadlineExceeded: {DEADLINE_MESSAGE}): its work may not be finished",
        0,
    ),
    # The termination message: its last line in the summary, all of it in the record.
    ("termination_message", False, "container 'base' terminated with exit code 1 (Error): retry later", 1),
    (
        "termination_message_fallback",
        False,
        "container 'base' terminated with exit code 1 (Error): ValueError: bad row 17",
        1,
    ),
    ("init_failed", False, "init container 'setup' failed with exit code 2 (Error)", None),
    (
        "node_lost",
        False,
        "the pod's node stopped reporting; Kubernetes is evicting the pod (DeletionByTaintManager): "
        "Taint manager: deleting due to NoExecute taint",
        None,
    ),
    # A pod deleted under us: decided on the object of the watch's DELETED event.
    (
        "deleted_while_running",
        True,
        "container 'base' terminated with exit code 137 (Error); the pod has since been deleted",
        137,
    ),
    (
        "deleted_graceful_exit",
        True,
        "container 'base' exited with 0, but only after the pod was stopped (the pod was deleted): "
        "its work may not be finished",
        0,
    ),
    (
        "deleted_force",
        True,
        "the pod was deleted while container 'base' was running (phase Running): somebody or something else "
        "deleted it",
        None,
    ),
]


@pytest.mark.parametrize(("name", "deleted", "summary", "exit_code"), FAILURES)
def test_failure_verdicts_say_what_happened(
    name: str, deleted: bool, summary: str, exit_code: int | None
) -> None:
    snap = snapshot(name)
    verdict = decide(snap.pod, main=MAIN, events=snap.events, deleted=deleted)
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.summary == summary
    assert verdict.exit_code == exit_code
    assert verdict.record is not None
    assert verdict.record.pod == snap.pod["metadata"]["name"]
    assert verdict.record.deleted is deleted


def test_a_deadline_derived_from_execution_timeout_says_so() -> None:
    snap = snapshot("deadline_exceeded")
    snap.pod["spec"]["activeDeadlineSeconds"] = 3900
    snap.pod["metadata"].setdefault("annotations", {})["airflow-provider-k8spod/active-deadline-source"] = (
        "execution_timeout"
    )
    verdict = decide(snap.pod, main=MAIN, events=snap.events)
    assert verdict.summary.endswith(
        f"DeadlineExceeded: {DEADLINE_MESSAGE} (activeDeadlineSeconds=3900, set from the task's "
        "execution_timeout plus a margin because active_deadline_seconds was not given)"
    )
    # Before the main container ran: the same note inside the pod's reason.
    snap.pod["status"]["containerStatuses"] = []
    verdict = decide(snap.pod, main=MAIN, events=snap.events)
    assert verdict.summary == (
        f"the pod failed before container 'base' finished (DeadlineExceeded: {DEADLINE_MESSAGE} "
        "(activeDeadlineSeconds=3900, set from the task's execution_timeout plus a margin because "
        "active_deadline_seconds was not given))"
    )


def test_exit_0_before_the_pod_was_stopped_is_still_success() -> None:
    # The main container finished, then the deadline stopped the sidecar that kept the pod running.
    p = pod("xcom_main_done_sidecar_running")
    finished = status_of(p, MAIN)["state"]["terminated"]["finishedAt"]
    p["spec"]["activeDeadlineSeconds"] = 60
    p["status"].update(
        {"phase": "Failed", "reason": "DeadlineExceeded", "message": DEADLINE_MESSAGE, "startTime": finished}
    )
    assert decide(p, main=MAIN).outcome is Outcome.SUCCESS
    # ... and the same for a deletion requested after it finished.
    p = pod("xcom_main_done_sidecar_running")
    p["metadata"]["deletionTimestamp"] = "2099-01-01T00:00:30Z"
    p["metadata"]["deletionGracePeriodSeconds"] = 30
    assert decide(p, main=MAIN, deleted=True).outcome is Outcome.SUCCESS


def test_a_deletion_read_after_the_kubelets_final_delete_counts_from_the_request() -> None:
    # Real Kubernetes: the final delete (grace 0) moves deletionTimestamp back to the request time.
    p = pod("deleted_graceful_exit")
    finished = status_of(p, MAIN)["state"]["terminated"]["finishedAt"]
    p["metadata"]["deletionTimestamp"] = finished
    p["metadata"]["deletionGracePeriodSeconds"] = 0
    verdict = decide(p, main=MAIN, deleted=True)
    assert verdict.outcome is Outcome.FAILURE
    assert "after the pod was stopped (the pod was deleted)" in verdict.summary


@pytest.mark.parametrize(
    ("name", "skip", "outcome"),
    [
        ("failed_exit_code", {3}, Outcome.SKIP),
        ("failed_exit_code", [100, 3], Outcome.SKIP),
        ("failed_exit_code", {100}, Outcome.FAILURE),
        ("main_failed_user_sidecar_running", {1}, Outcome.SKIP),
        ("succeeded", {0}, Outcome.SKIP),  # as upstream: listing 0 skips successes
        ("succeeded", {1}, Outcome.SUCCESS),
        ("init_failed", {2}, Outcome.FAILURE),  # an init container's exit code is not the task's
        ("deadline_exceeded_graceful_exit", {0}, Outcome.FAILURE),  # stopped, not finished
    ],
)
def test_skip_on_exit_code(name: str, skip: Any, outcome: Outcome) -> None:
    verdict = decide(pod(name), main=MAIN, skip_on_exit_code=skip)
    assert verdict.outcome is outcome
    if outcome is Outcome.SKIP:
        code = verdict.exit_code
        assert verdict.summary == f"container 'base' exited with {code}, listed in skip_on_exit_code"
        assert verdict.record is None


def test_the_main_container_decides_by_name() -> None:
    # With the user's sidecar as "main", the same pod is still running: not a success.
    p = pod("main_failed_user_sidecar_running")
    assert decide(p, main=MAIN).outcome is Outcome.FAILURE
    assert main_container_done(p, "istio-proxy") is False


def test_a_succeeded_pod_without_main_container_status_is_a_success() -> None:
    p = pod("succeeded")
    p["status"]["containerStatuses"] = []
    verdict = decide(p, main=MAIN)
    assert (verdict.outcome, verdict.summary) == (Outcome.SUCCESS, "the pod succeeded")


def test_a_pod_failed_before_its_main_container_ran() -> None:
    # e.g. evicted while still pulling its image: the pod's reason is all there is.
    p = with_state(pod("evicted"), MAIN, waiting("ContainerCreating"))
    verdict = decide(p, main=MAIN)
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.summary == f"the pod failed before container 'base' finished (Evicted: {EVICTION_MESSAGE})"


# -- failure record ----------------------------------------------------------------------------------------


def render(name: str, **kwargs: Any) -> str:
    snap = snapshot(name)
    verdict = decide(snap.pod, main=MAIN, events=snap.events, **kwargs)
    assert verdict.record is not None
    return verdict.record.render()


def test_record_of_an_oom_kill() -> None:
    assert render("oom_killed") == "\n".join(
        [
            "pod: default/oom-killed",
            "phase: Failed",
            "node: node-1",
            "out of memory: a container was OOMKilled (raise its memory limit)",
            "  container 'base': terminated with exit code 137, reason OOMKilled",
        ]
    )


def test_record_of_an_eviction_has_reason_message_node_and_warning_event() -> None:
    # (the kubelet's eviction message ends with a space)
    assert [line.rstrip() for line in render("evicted").splitlines()] == (
        [
            "pod: default/evicted",
            "phase: Failed",
            "reason: Evicted",
            f"message: {EVICTION_MESSAGE}",
            "node: node-1",
            "  container 'base': terminated with exit code 137, reason Error",
            "last warning events:",
            f"  Evicted: {EVICTION_MESSAGE} (from kubelet)",
        ]
    )


def test_record_of_a_deadline() -> None:
    text = render("deadline_exceeded")
    assert "reason: DeadlineExceeded" in text
    assert f"message: {DEADLINE_MESSAGE}" in text
    # DeadlineExceeded is a Normal event: the record lists warnings only.
    assert "last warning events" not in text


def test_record_has_the_whole_termination_message() -> None:
    text = render("termination_message")
    assert (
        "  container 'base': terminated with exit code 1, reason Error, message: table orders is locked\nretry later"
        in text
    )


def test_record_of_a_start_error_has_the_runtime_error_and_its_event() -> None:
    text = render("start_error")
    assert (
        "  container 'base': terminated with exit code 128, reason StartError, message: failed to create"
        in text
    )
    assert "last warning events:\n  Failed: Error: failed to create containerd task:" in text
    assert text.endswith("(from kubelet, on base)")


def test_record_lists_every_container_in_spec_order_with_its_kind() -> None:
    text = render("init_failed")
    assert "reason: InitContainerFailed" in text
    assert (
        "  init 'setup': terminated with exit code 2, reason Error\n  container 'base': waiting, reason PodInitializing"
        in text
    )


def test_record_of_sidecars() -> None:
    snap = snapshot("native_sidecar_running")
    record = failure_record(snap.pod, snap.events, reason="Killed")
    assert [(c.kind, c.name, c.state) for c in record.containers] == [
        ("sidecar", "proxy", "running"),
        ("container", "base", "running"),
    ]
    text = render("main_failed_user_sidecar_running")
    assert (
        "  container 'base': terminated with exit code 1, reason Error\n  container 'istio-proxy': running"
        in text
    )


def test_record_of_restarts() -> None:
    p = pod("on_failure_crash_loop")
    record = failure_record(p)
    assert record.containers[0].describe() == (
        "container 'base': waiting, reason CrashLoopBackOff, restarted 1 time(s), message: back-off 1s restarting "
        f"failed container=base pod=on-failure-crash-loop_default({p['metadata']['uid']})"
    )


def test_record_of_a_deleted_pod() -> None:
    text = render("deleted_force", deleted=True)
    assert text.splitlines()[:3] == [
        "pod: default/deleted-force",
        "phase: Running (deleted)",
        "reason: Deleted",
    ]


def test_record_of_a_lost_node() -> None:
    text = render("node_lost")
    assert text.splitlines()[:4] == [
        "pod: default/node-lost",
        "phase: Running",
        "reason: NodeLost",
        "node: node-2",
    ]
    assert "NodeNotReady: Node is not ready (from node-controller)" in text
    # Real Kubernetes: still "Running", with the node controller's warning.
    snap = snapshot("node_lost_real")
    record = failure_record(snap.pod, snap.events)
    assert record.phase == "Running"
    assert record.warnings == ("NodeNotReady: Node is not ready (from node-controller)",)
    verdict = decide(snap.pod, main="base", events=snap.events)
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.summary.startswith(
        "the pod's node stopped reporting; Kubernetes is evicting the pod (DeletionByTaintManager)"
    )
    assert verdict.record is not None
    assert verdict.record.reason == "NodeLost"


def test_startup_failure_record_has_the_pull_errors() -> None:
    snap = snapshot("image_pull_backoff")
    record = failure_record(
        snap.pod, snap.events, reason="StartupTimeout", message="did not start within 120s"
    )
    assert record.reason == "StartupTimeout"
    assert record.warnings == (
        f'Failed: Failed to pull image "registry.example.com/team/missing:1.0": {PULL_ERROR} (from kubelet, on base)',
        "Failed: Error: ErrImagePull (from kubelet, on base)",
        "Failed: Error: ImagePullBackOff (from kubelet, on base)",
    )
    text = record.render()
    assert "reason: StartupTimeout\nmessage: did not start within 120s\nnode: node-1" in text


def test_schedule_failure_record_has_the_schedulers_event() -> None:
    snap = snapshot("pending_unschedulable")
    record = failure_record(snap.pod, snap.events, reason="ScheduleTimeout")
    assert record.node == ""
    assert record.containers[0].state == "unknown"
    assert record.warnings == (f"FailedScheduling: {SCHEDULER_MESSAGE} (from default-scheduler)",)


def event(reason: str, at: str, type_: str = "Warning", **extra: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "reason": reason,
        "message": f"{reason} happened",
        "lastTimestamp": at,
        "source": {"component": "kubelet"},
        **extra,
    }


def test_record_keeps_the_last_warnings_oldest_first() -> None:
    events = [event(f"W{i}", f"2024-05-01T10:00:{i:02d}Z") for i in (7, 1, 3, 6, 2, 5, 4)]
    events.append(event("Pulled", "2024-05-01T10:00:59Z", type_="Normal"))
    record = failure_record(pod("failed_exit_code"), events)
    assert [w.split(":")[0] for w in record.warnings] == ["W3", "W4", "W5", "W6", "W7"]
    assert len(failure_record(pod("failed_exit_code"), events, max_warnings=2).warnings) == 2


def test_record_orders_events_whatever_time_field_they_carry() -> None:
    events = [
        {"type": "Warning", "reason": "Late", "message": "m", "eventTime": "2024-05-01T10:00:09.000001Z"},
        {"type": "Warning", "reason": "Early", "message": "m", "firstTimestamp": "2024-05-01T10:00:01Z"},
        {
            "type": "Warning",
            "reason": "Middle",
            "message": "m",
            "metadata": {"creationTimestamp": "2024-05-01T10:00:05Z"},
        },
    ]
    record = failure_record(pod("failed_exit_code"), events)
    assert [w.split(":")[0] for w in record.warnings] == ["Early", "Middle", "Late"]


def test_record_to_dict_is_json() -> None:
    snap = snapshot("oom_killed")
    verdict = decide(snap.pod, main=MAIN, events=snap.events)
    assert verdict.record is not None
    data = json.loads(json.dumps(verdict.record.to_dict()))
    assert data["oom_killed"] is True
    assert data["containers"][0]["exit_code"] == 137
    assert data["containers"][0]["reason"] == "OOMKilled"
    assert data["node"] == "node-1"


# -- events ------------------------------------------------------------------------------------------------


def events_of(name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in snapshot(name).events:
        found.setdefault(item["reason"] + ":" + item["message"][:20], item)
    return found


@pytest.mark.parametrize(
    ("name", "reason", "line", "warning"),
    [
        (
            "err_image_pull",
            "Pulling",
            'Pulling: Pulling image "registry.example.com/team/missing:1.0" (from kubelet, on base)',
            False,
        ),
        ("err_image_pull", "Failed", "Failed: Error: ErrImagePull (from kubelet, on base)", True),
        (
            "pending_unschedulable",
            "FailedScheduling",
            f"FailedScheduling: {SCHEDULER_MESSAGE} (from default-scheduler)",
            True,
        ),
        (
            "running",
            "Scheduled",
            "Scheduled: Successfully assigned default/running to node-1 (from default-scheduler)",
            False,
        ),
        ("init_failed", "Started", "Started: Started container setup (from kubelet, on setup)", False),
        (
            "init_crash_loop",
            "Pulled",
            'Pulled: Container image "busybox:1.36" already present on machine (x2, from kubelet, on setup)',
            False,
        ),
        (
            "init_crash_loop",
            "BackOff",
            "BackOff: Back-off restarting failed container setup in pod "
            "init-crash-loop_default(<uid>) (from kubelet, on setup)",
            True,
        ),
        ("evicted", "Evicted", f"Evicted: {EVICTION_MESSAGE} (from kubelet)", True),
        (
            "deadline_exceeded",
            "DeadlineExceeded",
            f"DeadlineExceeded: {DEADLINE_MESSAGE} (from kubelet)",
            False,
        ),
        ("node_lost_real", "NodeNotReady", "NodeNotReady: Node is not ready (from node-controller)", True),
    ],
)
def test_format_event_of_real_events(name: str, reason: str, line: str, warning: bool) -> None:
    line = line.replace("<uid>", pod(name)["metadata"]["uid"])
    matches = [e for e in snapshot(name).events if e["reason"] == reason and format_event(e) == line]
    assert matches, [format_event(e) for e in snapshot(name).events if e["reason"] == reason]
    assert event_is_warning(matches[0]) is warning


def test_format_event_uses_the_series_count_of_new_style_events() -> None:
    item = {
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "0/3 nodes are available.",
        "series": {"count": 5, "lastObservedTime": "2024-05-01T10:00:00.000000Z"},
        "reportingComponent": "default-scheduler",
    }
    assert format_event(item) == "FailedScheduling: 0/3 nodes are available. (x5, from default-scheduler)"


def test_format_event_without_source_or_count() -> None:
    assert format_event({"reason": "Custom", "message": "  padded \n"}) == "Custom: padded"
    assert format_event({"reason": "Custom", "message": "m", "count": 1}) == "Custom: m"


def test_event_severity_is_the_events_type() -> None:
    assert event_is_warning({"type": "Warning"}) is True
    assert event_is_warning({"type": "Normal"}) is False
    assert event_is_warning({}) is False


@pytest.mark.parametrize(
    ("name", "limits", "kinds"),
    [
        # 0 is no limit: the pod waits as long as the task may run (execution_timeout).
        ("pending_unschedulable", {"schedule_timeout": 0}, ["wait", "wait", "wait"]),
        ("pending_container_creating", {"startup_timeout": 0}, ["wait", "wait", "wait"]),
        ("image_pull_backoff", {"startup_timeout": 0}, ["wait", "wait", "wait"]),
        # A positive limit is a limit, however small.
        ("pending_unschedulable", {"schedule_timeout": 0.5}, ["wait", "failed", "failed"]),
        ("pending_container_creating", {"startup_timeout": 0.5}, ["wait", "failed", "failed"]),
        # No limit for one does not lift the other.
        (
            "pending_container_creating",
            {"schedule_timeout": 0, "startup_timeout": 5},
            ["wait", "wait", "failed"],
        ),
        ("pending_unschedulable", {"schedule_timeout": 5, "startup_timeout": 0}, ["wait", "wait", "failed"]),
        # Fatal reasons fail at once whatever the limits.
        ("invalid_image_name", {"schedule_timeout": 0, "startup_timeout": 0}, ["failed", "failed", "failed"]),
    ],
)
def test_a_timeout_of_zero_is_no_limit(name: str, limits: dict[str, float], kinds: list[str]) -> None:
    p = pod(name)
    decisions = run(StartupTracker(MAIN, **limits), [(0.0, p), (1.0, p), (86400.0, p)])
    assert [d.kind for d in decisions] == kinds


# -- crash loops (restartPolicy OnFailure) ---------------------------------------------------------------


def _looping(restarts: int, kind: str, exit_code: int = 3) -> dict:
    state = {"running": {}} if kind == "running" else {"waiting": {"reason": "CrashLoopBackOff"}}
    if kind == "terminated":
        state = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
    return {
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "base"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "base",
                    "restartCount": restarts,
                    "state": state,
                    "lastState": {"terminated": {"exitCode": exit_code}} if restarts else {},
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("observations", "fails_at"),
    [
        # (restarts, state, now): a first run that is going on is no crash loop.
        ([(0, "running", 0), (0, "running", 500)], None),
        # Failed once, then runs long: never cut short.
        ([(1, "waiting", 0), (1, "running", 2), (1, "running", 1000)], None),
        # Still waiting for a restart past the start-up window (5s) after its first failure.
        ([(1, "waiting", 0), (2, "running", 3), (2, "waiting", 4), (3, "waiting", 6)], 3),
        # The restart budget ends it whatever the time.
        ([(1, "running", 0), (9, "running", 1), (10, "running", 2)], 2),
    ],
)
def test_crash_loop_tracker(observations: list[tuple[int, str, float]], fails_at: int | None) -> None:
    from airflow_provider_k8spod.pod.status import CrashLoopTracker

    tracker = CrashLoopTracker("base", startup_timeout=5)
    results = [tracker.observe(_looping(r, kind), now) for r, kind, now in observations]
    failed = [i for i, message in enumerate(results) if message is not None]
    assert (failed[0] if failed else None) == fails_at
    if fails_at is not None:
        assert "container 'base' is in a crash loop" in str(results[fails_at])
        assert "last exit code 3" in str(results[fails_at])


def test_restarted_success_names_the_restarts_and_the_earlier_exit_code() -> None:
    from airflow_provider_k8spod.pod.status import restarted_success

    pod = _looping(2, "terminated", exit_code=0)
    pod["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 4}}
    assert restarted_success(pod, "base") == (
        "container 'base' succeeded after 2 restarts (restartPolicy OnFailure); its earlier run exited with code 4"
    )
    assert restarted_success(_looping(0, "terminated", exit_code=0), "base") is None


@pytest.mark.parametrize(
    ("main", "uid", "started"),
    [
        ("base", None, True),
        ("base", "8300c9ab-cd81-4250-9fdf-b59217423ff6", True),  # the pod's own events
        ("base", "another-pod-of-the-same-name", False),
        ("other", None, False),
    ],
)
def test_the_started_event_tells_that_the_main_container_started(
    main: str, uid: str | None, started: bool
) -> None:
    assert started_in_events(snapshot("running").events, main, uid) is started


def test_a_pod_deleted_before_any_state_showed_it_running_but_whose_event_did_is_not_called_not_started() -> (
    None
):
    # The last state read is the one the pod was created with; the kubelet's Started event outlived it.
    snap = snapshot("running")
    snap.pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    verdict = decide(snap.pod, main=MAIN, events=snap.events, deleted=True)
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.summary == (
        "the pod was deleted after container 'base' started (its Started event says so; the last state "
        "read was phase Pending): somebody or something else deleted it"
    )
    # Without that event, it is what the last state says.
    verdict = decide(snap.pod, main=MAIN, events=[], deleted=True)
    assert "started" not in verdict.summary
