"""The container runtime: path mapping, executable lookup, and the ``process`` isolation fallback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import kubernetes
import pytest
from kubernetes.stream import stream

from airflow_provider_k8spod.testing import LocalCluster
from airflow_provider_k8spod.testing.node.runtime import (
    DEFAULT_PATH,
    ExecutableNotFound,
    LaunchSpec,
    Mode,
    Mount,
    Runtime,
    choose_mode,
    exit_code_of,
    map_path,
    resolve_executable,
)
from tests.testing._helpers import container_status, pod_manifest, process_argvs
from tests.testing.conftest import FAST

pytestmark = pytest.mark.timeout(120)


def test_map_path_longest_mount_wins() -> None:
    mounts = [Mount("/host/a", "/data"), Mount("/host/b", "/data/sub")]
    assert map_path("/data/x", mounts) == "/host/a/x"
    assert map_path("/data/sub/y", mounts) == "/host/b/y"
    assert map_path("/data", mounts) == "/host/a"
    assert map_path("/database", mounts) == "/database"


def test_resolve_executable(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("x")
    mounts = [Mount(str(tmp_path), "/scripts")]
    assert resolve_executable("/scripts/tool", "/usr/bin", "/", mounts) == "/scripts/tool"
    assert resolve_executable("tool", "/nowhere:/scripts", "/", mounts) == "/scripts/tool"
    assert resolve_executable("sh", "/usr/bin:/bin", "/", []) in ("/usr/bin/sh", "/bin/sh")
    with pytest.raises(ExecutableNotFound, match=r'exec: "nope": executable file not found in \$PATH'):
        resolve_executable("nope", "/usr/bin", "/", [])
    with pytest.raises(ExecutableNotFound, match="no such file or directory"):
        resolve_executable("/scripts/missing", "/usr/bin", "/", mounts)
    with pytest.raises(ExecutableNotFound, match="permission denied"):
        resolve_executable("/scripts/plain", "/usr/bin", "/", mounts)


@pytest.mark.parametrize(("returncode", "code"), [(0, 0), (3, 3), (-9, 137), (-15, 143)])
def test_exit_codes(returncode: int, code: int) -> None:
    assert exit_code_of(returncode) == code


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(timings=FAST, isolation="process") as local:
        yield local


def test_process_mode_runs_pods(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    assert cluster.isolation == "process"
    body = pod_manifest("proc", ["python", "-c", "import os; print('hello', os.environ['MY_NS'])"])
    body["spec"]["containers"][0]["env"] = [
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    ]
    core.create_namespaced_pod(ns, body)
    pod = cluster.wait_for_pod(ns, "proc", phase="Succeeded")
    assert pod is not None
    assert container_status(pod)["state"]["terminated"]["reason"] == "Completed"
    assert core.read_namespaced_pod_log("proc", ns) == f"hello {ns}\n"


def test_process_mode_rewrites_volume_paths(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest(
        "vol", ["sh", "-c", "echo shared > /work/out; cat /work/out; echo $K8SPOD_VOLUME_MOUNTS"]
    )
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    core.create_namespaced_pod(ns, body)
    cluster.wait_for_pod(ns, "vol", phase="Succeeded")
    first, mounts_json = core.read_namespaced_pod_log("vol", ns).splitlines()
    assert first == "shared"
    mounts = json.loads(mounts_json)
    assert set(mounts) >= {"/work", "/dev/termination-log"}
    assert mounts["/work"].startswith(cluster.state_dir)
    assert not os.path.exists("/work/out")


def test_process_mode_termination_message_and_exec(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("msg", ["sh", "-c", "echo -n done > /dev/termination-log"]))
    pod = cluster.wait_for_pod(ns, "msg", phase="Succeeded")
    assert pod is not None
    assert container_status(pod)["state"]["terminated"]["message"] == "done"
    core.create_namespaced_pod(ns, pod_manifest("ex", ["sleep", "60"], grace=0))
    cluster.wait_for_pod(ns, "ex", phase="Running")
    output = stream(
        core.connect_get_namespaced_pod_exec,
        "ex",
        ns,
        command=["sh", "-c", "echo $HOSTNAME"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert output == "ex\n"


def test_process_mode_sigterm_reaches_plain_commands(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    """Documented difference: without a PID namespace ``sleep`` is not PID 1, so SIGTERM kills it at once."""
    core.create_namespaced_pod(ns, pod_manifest("s", ["sleep", "60"], grace=30))
    cluster.wait_for_pod(ns, "s", phase="Running")
    start = core.list_namespaced_pod(ns).metadata.resource_version
    core.delete_namespaced_pod("s", ns)
    watch = kubernetes.watch.Watch()
    final = None
    for event in watch.stream(core.list_namespaced_pod, ns, resource_version=start, timeout_seconds=20):
        if event["type"] == "DELETED":
            final = event["object"]
            watch.stop()
    assert final is not None
    assert final.status.container_statuses[0].state.terminated.exit_code == 143


@pytest.mark.parametrize("mode", ["namespaces", "process"])
def test_a_container_killed_while_it_starts_leaves_nothing_running(mode: str, tmp_path: Path) -> None:
    """A delete can arrive the moment a container was launched, before its init recorded a PID or
    armed its parent-death signal. The kill must still reach the command: otherwise the orphan keeps
    the output pipes open and the pod never terminates."""
    if mode == "namespaces" and choose_mode("auto") != "namespaces":
        pytest.skip("no mount/PID namespaces on this machine")
    runtime = Runtime(cast(Mode, mode), sys.executable)
    token = f"{uuid.uuid4().int % 10**6 + 10**7}"  # a sleep length no other process uses

    async def main() -> tuple[list[int], list[int]]:
        hung: list[int] = []
        unfinished = []
        for index in range(30):
            instance = tmp_path / str(index)
            spec = LaunchSpec(
                "/bin/sleep", ["sleep", token], {"PATH": DEFAULT_PATH}, "/", [], "c", str(instance)
            )
            process = await runtime.start(spec, lambda stream, chunk: None, lambda stream: None)
            await asyncio.sleep((0.0, 0.001, 0.003)[index % 3])
            process.kill()
            waiter = asyncio.ensure_future(process.wait())
            await asyncio.wait({waiter}, timeout=2)
            if not waiter.done():
                hung.append(index)
                unfinished.append(waiter)
        leftovers = [pid for pid, argv in process_argvs() if token in argv]
        for pid in leftovers:  # clean up after a failure, so the loop can close
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if unfinished:
            await asyncio.wait(unfinished, timeout=10)
        return hung, leftovers

    hung, leftovers = asyncio.run(main())
    assert hung == []
    assert leftovers == []


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return False


@pytest.mark.parametrize("mode", ["namespaces", "process"])
def test_a_kill_that_comes_just_after_the_exit_keeps_the_exit_code(mode: str, tmp_path: Path) -> None:
    """A delete or an eviction can kill a container that has just exited, before the event loop reaped it.
    The kill must not reap it itself (asyncio's ``Process.kill()`` polls first): the child watcher would
    then find no exit status and report 255 for the container and for its exec'd processes."""
    if mode == "namespaces" and choose_mode("auto") != "namespaces":
        pytest.skip("no mount/PID namespaces on this machine")
    from airflow_provider_k8spod.testing.server import _set_child_watcher

    runtime = Runtime(cast(Mode, mode), sys.executable)

    async def main() -> tuple[int, int | None]:
        _set_child_watcher(asyncio.get_running_loop())  # as the cluster's server: the loop reaps children
        spec = LaunchSpec(
            "/bin/sh", ["sh", "-c", "sleep 2; exit 3"], {"PATH": DEFAULT_PATH}, "/", [], "c", str(tmp_path)
        )
        process = await runtime.start(spec, lambda stream, chunk: None, lambda stream: None)
        await asyncio.sleep(0.2)
        executed, _ = await runtime.exec(
            process, ["sh", "-c", "sleep 0.3; exit 4"], {"PATH": DEFAULT_PATH}, "/", stdin=False, tty=False
        )
        # Both have exited, and the loop has not reaped them (it does not run until the next await). The
        # exec can only have been reaped already if starting it took longer than its 0.3 s.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            _zombie(process.proc.pid) and (executed.returncode is not None or _zombie(executed.pid))
        ):
            time.sleep(0.01)
        assert _zombie(process.proc.pid)
        process.kill()
        return await process.wait(), await executed.wait()

    assert asyncio.run(main()) == (3, 4)
