"""The pod side of do_xcom_push: the sidecar, its volume and mount, and its settings."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC
from pathlib import Path

import pytest
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.security import hardening_gaps, restricted_profile_violations
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.pod.validation import schema_errors
from airflow_provider_k8spod.pod.xcom import (
    DEFAULT_SIDECAR_IMAGE,
    XCOM_MOUNT_PATH,
    XCOM_SIDECAR_NAME,
    SidecarSettings,
    inject_xcom_sidecar,
    sidecar_container,
    sidecar_settings,
)

HARDENED_MAIN = {
    "name": "base",
    "image": "python:3.12-slim",
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _pod(*containers: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers)},
    }


def test_default_sidecar_passes_the_restricted_profile() -> None:
    sidecar = sidecar_container()
    assert restricted_profile_violations(_pod(sidecar)) == []
    assert hardening_gaps(sidecar) == []


def test_a_hardened_task_with_the_default_sidecar_passes_the_restricted_profile() -> None:
    pod = build_pod(
        {"image": "python:3.12-slim", "container_security_context": HARDENED_MAIN["securityContext"]},
        task_id="t",
        xcom_sidecar=SidecarSettings(),
    )
    assert restricted_profile_violations(pod) == []
    assert schema_errors(pod) == []


def test_upstream_style_sidecar_fails_the_restricted_profile() -> None:
    """The checker can fail: upstream's sidecar (no security context) is rejected, with reasons."""
    bare = {"name": XCOM_SIDECAR_NAME, "image": "alpine:3.24.2", "command": ["sh"]}
    assert restricted_profile_violations(_pod(bare)) == [
        "spec.containers[0].securityContext.allowPrivilegeEscalation: must be false",
        "spec.containers[0].securityContext.runAsNonRoot: must be true (here or in spec.securityContext)",
        "spec.containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost (here or pod-wide)",
        "spec.containers[0].securityContext.capabilities.drop: must include 'ALL'",
    ]
    assert hardening_gaps(bare) == [
        "securityContext.readOnlyRootFilesystem: not true",
        "resources.requests.cpu: not set",
        "resources.requests.memory: not set",
        "resources.limits.cpu: not set",
        "resources.limits.memory: not set",
    ]


def test_restricted_checker_reports_pod_level_problems() -> None:
    pod = _pod(copy.deepcopy(HARDENED_MAIN))
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/"}}]
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0
    assert restricted_profile_violations(pod) == [
        "spec.hostNetwork: must not be true",
        "spec.volumes[0].hostPath: volume type 'hostPath' is not allowed",
        "spec.containers[0].securityContext.runAsUser: must not be 0",
        "spec.containers[0].securityContext.capabilities.add: 'SYS_ADMIN': only NET_BIND_SERVICE may be added "
        "(not even allowed by the baseline profile)",
    ]


def test_pod_level_security_context_counts_for_every_container() -> None:
    pod = _pod(
        {
            "name": "base",
            "image": "i",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    )
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert restricted_profile_violations(pod) == []


def test_default_image_is_pinned_and_not_from_docker_hub() -> None:
    registry, _, rest = DEFAULT_SIDECAR_IMAGE.partition("/")
    assert "." in registry
    assert registry not in ("docker.io", "index.docker.io", "registry-1.docker.io")
    tag = rest.rpartition(":")[2]
    assert tag
    assert tag != "latest"


def test_sidecar_exits_on_sigint_and_sigterm() -> None:
    command = sidecar_container()["command"]
    assert command[:2] == ["sh", "-c"]
    assert "trap 'exit 0' INT TERM" in command[2]


def test_injection_mounts_on_the_main_container_by_name() -> None:
    pod = _pod(
        {"name": "proxy", "image": "p"},
        {"name": "app", "image": "a", "volumeMounts": [{"name": "d", "mountPath": "/d"}]},
    )
    pod["spec"]["volumes"] = [{"name": "d", "emptyDir": {}}]
    injected = inject_xcom_sidecar(pod, "app")
    proxy, app, sidecar = injected["spec"]["containers"]
    assert "volumeMounts" not in proxy
    assert app["volumeMounts"] == [
        {"name": "xcom", "mountPath": XCOM_MOUNT_PATH},
        {"name": "d", "mountPath": "/d"},
    ]
    assert sidecar["name"] == XCOM_SIDECAR_NAME
    assert injected["spec"]["volumes"][0] == {"name": "xcom", "emptyDir": {}}
    assert pod["spec"]["containers"][1]["volumeMounts"] == [{"name": "d", "mountPath": "/d"}], (
        "input unchanged"
    )


def test_injection_is_idempotent() -> None:
    once = inject_xcom_sidecar(_pod({"name": "base", "image": "i"}), "base")
    assert inject_xcom_sidecar(once, "base") == once


def test_injection_refuses_a_foreign_mount_at_the_xcom_path() -> None:
    pod = _pod(
        {"name": "base", "image": "i", "volumeMounts": [{"name": "other", "mountPath": XCOM_MOUNT_PATH}]}
    )
    with pytest.raises(PodSpecError, match=r"spec.containers\[0\].volumeMounts\[0\]: /airflow/xcom is where"):
        inject_xcom_sidecar(pod, "base")


def test_injection_needs_the_main_container() -> None:
    with pytest.raises(PodSpecError, match="no container named 'base'"):
        inject_xcom_sidecar(_pod({"name": "other", "image": "i"}), "base")


def test_settings_precedence_operator_then_connection_then_default() -> None:
    assert sidecar_settings() == SidecarSettings()
    from_connection = sidecar_settings(
        connection_image="conn/image:1",
        connection_resources={"requests": {"cpu": "5m"}},
        connection_security_context={"runAsUser": 5},
    )
    assert from_connection == SidecarSettings("conn/image:1", {"requests": {"cpu": "5m"}}, {"runAsUser": 5})
    from_operator = sidecar_settings(
        image="op/image:1",
        resources=k8s.V1ResourceRequirements(limits={"memory": "16Mi"}),
        security_context={"run_as_user": 7},
        connection_image="conn/image:1",
        connection_resources={"requests": {"cpu": "5m"}},
        connection_security_context={"runAsUser": 5},
    )
    assert from_operator == SidecarSettings("op/image:1", {"limits": {"memory": "16Mi"}}, {"runAsUser": 7})


def test_bad_connection_extra_is_named_in_the_error() -> None:
    with pytest.raises(PodSpecError) as info:
        sidecar_settings(connection_security_context={"runAsUsr": 5})
    assert str(info.value) == (
        "connection extra xcom_sidecar_container_security_context.runAsUsr: unknown field 'runAsUsr' for "
        "SecurityContext; did you mean 'runAsUser'?"
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("signal_number", [2, 15])
def test_sidecar_command_exits_0_on_sigint_and_sigterm_without_waiting_for_its_sleep(
    signal_number: int,
) -> None:
    """Run the sidecar's shell loop with the local ``sh`` and stop it as the lifecycle will."""
    import os
    import shutil
    import signal
    import subprocess
    import time

    sh = shutil.which("sh")
    if sh is None:  # pragma: no cover
        pytest.skip("no sh on this machine")
    command = sidecar_container()["command"]
    process = subprocess.Popen([sh, *command[1:]], start_new_session=True)
    try:
        # Wait until the shell catches the signal (its trap is installed), read from /proc.
        for _ in range(500):
            status = Path(f"/proc/{process.pid}/status").read_text()
            caught = int(
                next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
            )
            if caught & (1 << (signal_number - 1)):
                break
            time.sleep(0.01)
        os.kill(process.pid, signal_number)
        # The loop sleeps 30 s at a time; exiting within 10 s shows the trap does not wait for the sleep.
        assert process.wait(timeout=10) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    ("status", "deadline", "expected"),
    [
        ({"startTime": "2026-12-02T00:00:00Z"}, None, 60 + 1800),  # started a minute ago
        ({"startTime": "2026-12-02T00:00:00Z"}, 4000, 60 + 1800),  # a farther deadline is lowered
        ({"startTime": "2026-12-02T00:00:00Z"}, 600, None),  # a nearer one stays (it can only go down)
        ({}, None, None),  # not started: nothing to count from
    ],
)
def test_a_sidecar_left_running_gets_a_deadline_counted_from_the_pods_start(status, deadline, expected):
    from datetime import datetime

    from airflow_provider_k8spod.pod.xcom import sidecar_wait_deadline

    pod = {"spec": {"activeDeadlineSeconds": deadline} if deadline else {}, "status": status}
    now = datetime(2026, 12, 2, 0, 1, 0, 300000, tzinfo=UTC).timestamp()
    assert sidecar_wait_deadline(pod, now=now) == (expected + 1 if expected else None)
