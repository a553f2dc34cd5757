from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_k8spod.testing.node import podstatus


def waiting(name: str, reason: str = "ContainerCreating", last_exit: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "state": {"waiting": {"reason": reason}}, "ready": False}
    if last_exit is not None:
        status["lastState"] = {"terminated": {"exitCode": last_exit}}
    return status


def running(name: str, ready: bool = True) -> dict[str, Any]:
    return {"name": name, "state": {"running": {}}, "ready": ready, "started": True}


def terminated(name: str, code: int) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code}}, "ready": False, "started": False}


def spec(*containers: str, init: tuple[str, ...] = (), sidecars: tuple[str, ...] = (), policy: str = "Never"):
    inits = [{"name": n} for n in init] + [{"name": n, "restartPolicy": "Always"} for n in sidecars]
    return {"restartPolicy": policy, "containers": [{"name": n} for n in containers], "initContainers": inits}


@pytest.mark.parametrize(
    ("pod_spec", "init_statuses", "statuses", "terminal", "phase"),
    [
        (spec("a"), [], [waiting("a")], False, "Pending"),
        (spec("a"), [], [running("a")], False, "Running"),
        (spec("a"), [], [terminated("a", 0)], False, "Succeeded"),
        (spec("a"), [], [terminated("a", 1)], False, "Failed"),
        (spec("a", "b"), [], [terminated("a", 1), running("b")], False, "Running"),
        (spec("a", "b"), [], [terminated("a", 0), waiting("b")], False, "Pending"),
        (spec("a", policy="Always"), [], [terminated("a", 0)], False, "Running"),
        (spec("a", policy="OnFailure"), [], [terminated("a", 1)], False, "Running"),
        (spec("a", policy="OnFailure"), [], [terminated("a", 0)], False, "Succeeded"),
        (spec("a", policy="OnFailure"), [], [waiting("a", "CrashLoopBackOff", 1)], False, "Running"),
        (spec("a", policy="Always"), [], [terminated("a", 0)], True, "Succeeded"),
        (spec("a", policy="Always"), [], [terminated("a", 137)], True, "Failed"),
        (spec("a", init=("i",)), [running("i")], [waiting("a", "PodInitializing")], False, "Pending"),
        (spec("a", init=("i",)), [terminated("i", 1)], [waiting("a", "PodInitializing")], False, "Failed"),
        (
            spec("a", init=("i",), policy="OnFailure"),
            [waiting("i", "CrashLoopBackOff", 1)],
            [waiting("a", "PodInitializing")],
            False,
            "Pending",
        ),
        (spec("a", sidecars=("s",)), [waiting("s")], [waiting("a", "PodInitializing")], False, "Pending"),
        (spec("a", sidecars=("s",)), [running("s")], [running("a")], False, "Running"),
        (spec("a", sidecars=("s",)), [running("s")], [terminated("a", 0)], False, "Succeeded"),
        (spec("a", sidecars=("s",)), [terminated("s", 143)], [terminated("a", 0)], False, "Succeeded"),
    ],
)
def test_phase(pod_spec: Any, init_statuses: Any, statuses: Any, terminal: bool, phase: str) -> None:
    assert podstatus.compute_phase(pod_spec, init_statuses, statuses, pod_is_terminal=terminal) == phase


def _types(conditions: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in conditions}


def test_conditions_while_creating() -> None:
    conditions = podstatus.kubelet_conditions(spec("a"), [], [waiting("a")], "Pending", sandbox_ready=True)
    assert _types(conditions) == {
        "PodReadyToStartContainers": ("True", ""),
        "Initialized": ("True", ""),
        "Ready": ("False", "ContainersNotReady"),
        "ContainersReady": ("False", "ContainersNotReady"),
    }
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert ready["message"] == "containers with unready status: [a]"


def test_conditions_running_and_terminal() -> None:
    running_conditions = podstatus.kubelet_conditions(
        spec("a"), [], [running("a")], "Running", sandbox_ready=True
    )
    assert _types(running_conditions)["Ready"] == ("True", "")
    done = podstatus.kubelet_conditions(spec("a"), [], [terminated("a", 0)], "Succeeded", sandbox_ready=False)
    assert _types(done) == {
        "PodReadyToStartContainers": ("False", ""),
        "Initialized": ("True", "PodCompleted"),
        "Ready": ("False", "PodCompleted"),
        "ContainersReady": ("False", "PodCompleted"),
    }
    failed = podstatus.kubelet_conditions(spec("a"), [], [terminated("a", 1)], "Failed", sandbox_ready=False)
    assert _types(failed)["Ready"] == ("False", "PodFailed")


def test_initialized_waits_for_init_containers_and_sidecar_start() -> None:
    conditions = podstatus.kubelet_conditions(
        spec("a", init=("i",), sidecars=("s",)),
        [terminated("i", 0) | {"ready": True}, waiting("s")],
        [waiting("a", "PodInitializing")],
        "Pending",
        sandbox_ready=True,
    )
    initialized = next(c for c in conditions if c["type"] == "Initialized")
    assert initialized["status"] == "False"
    assert initialized["reason"] == "ContainersNotInitialized"
    assert initialized["message"] == "containers with incomplete status: [s]"


def test_merge_conditions_keeps_transition_time() -> None:
    old = [{"type": "Ready", "status": "False", "lastTransitionTime": "T0"}]
    same = podstatus.merge_conditions(old, [{"type": "Ready", "status": "False"}], "T1")
    changed = podstatus.merge_conditions(old, [{"type": "Ready", "status": "True"}], "T1")
    assert same[0]["lastTransitionTime"] == "T0"
    assert changed[0]["lastTransitionTime"] == "T1"


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        (
            {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_qos(resources: dict[str, Any], qos: str) -> None:
    assert podstatus.qos_class({"containers": [{"name": "a", "resources": resources}]}) == qos
