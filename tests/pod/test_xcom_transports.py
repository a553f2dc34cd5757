"""The XCom transports without exec, as pure functions: choosing the transport, the pod each one builds,
the termination message's limit, and taking the result's lines out of a log."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from airflow_provider_k8spod.exceptions import PodSpecError, XComResultError
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.pod.xcom import (
    NO_RESULT,
    XCOM_LOGS_SCRIPT,
    XCOM_MARKER_ANNOTATION,
    XCOM_RETURN_FILE,
    XCOM_SIDECAR_NAME,
    LogResultCollector,
    parse_termination_message,
    pod_xcom_marker,
    resolve_xcom_transport,
    termination_message_limit,
    xcom_marker,
)


@pytest.mark.parametrize(
    ("own", "connection", "expected"),
    [
        (None, None, "sidecar"),
        (None, "logs", "logs"),
        ("termination_message", "logs", "termination_message"),  # the operator argument wins
        ("sidecar", "logs", "sidecar"),
        ("", "termination_message", "termination_message"),
    ],
)
def test_the_operator_argument_wins_over_the_connection_extra(own, connection, expected):
    assert resolve_xcom_transport(own, connection) == expected


@pytest.mark.parametrize(
    ("own", "connection", "named"),
    [("exec", None, "xcom_transport: 'exec'"), (None, "log", "connection extra xcom_transport: 'log'")],
)
def test_an_unknown_transport_is_an_error_naming_where_it_came_from(own, connection, named):
    with pytest.raises(PodSpecError, match="use one of 'sidecar', 'termination_message', 'logs'") as info:
        resolve_xcom_transport(own, connection)
    assert str(info.value).startswith(named)


def build(transport: str, **arguments):
    return build_pod(
        {"image": "python:3.12-slim", "cmds": ["python", "job.py"], "arguments": ["--day", "1"], **arguments},
        task_id="t",
        xcom_transport=transport,
        xcom_token="abc",
    )


def test_termination_message_pod_has_no_sidecar_and_points_the_message_at_the_result():
    pod = build("termination_message")
    (main,) = pod["spec"]["containers"]
    assert main["terminationMessagePath"] == XCOM_RETURN_FILE
    assert main["terminationMessagePolicy"] == "File"
    assert main["command"] == ["python", "job.py"]
    assert main["args"] == ["--day", "1"]
    assert {"name": "xcom", "mountPath": "/airflow/xcom"} in main["volumeMounts"]
    assert {"name": "xcom", "emptyDir": {}} in pod["spec"]["volumes"]


def test_logs_pod_has_no_sidecar_and_wraps_the_command_with_the_pods_marker():
    pod = build("logs")
    (main,) = pod["spec"]["containers"]
    marker = xcom_marker("abc")
    assert main["command"] == [
        "sh",
        "-c",
        XCOM_LOGS_SCRIPT,
        "k8spod-xcom",
        marker,
        "python",
        "job.py",
        "--day",
        "1",
    ]
    assert "args" not in main
    assert pod_xcom_marker(pod) == marker
    assert pod["metadata"]["annotations"][XCOM_MARKER_ANNOTATION] == marker
    assert XCOM_SIDECAR_NAME not in json.dumps(pod)


@pytest.mark.parametrize(
    ("transport", "arguments", "message"),
    [
        ("logs", {"cmds": None}, "xcom_transport='logs' wraps the container's command"),
        (
            "termination_message",
            {
                "full_pod_spec": {
                    "spec": {"containers": [{"name": "base", "terminationMessagePath": "/tmp/m"}]}
                }
            },
            "terminationMessagePath is '/tmp/m'",
        ),
        (
            "termination_message",
            {
                "full_pod_spec": {
                    "spec": {
                        "containers": [{"name": "base", "terminationMessagePolicy": "FallbackToLogsOnError"}]
                    }
                }
            },
            "terminationMessagePolicy is 'FallbackToLogsOnError'",
        ),
    ],
)
def test_a_pod_the_transport_cannot_work_with_is_refused(transport, arguments, message):
    with pytest.raises(PodSpecError, match=message):
        build(transport, **arguments)


def finished(message: str | None, containers: int = 1) -> dict:
    state = (
        {"terminated": {"exitCode": 0}}
        if message is None
        else {"terminated": {"exitCode": 0, "message": message}}
    )
    names = ["base"] + [f"c{i}" for i in range(containers - 1)]
    return {
        "spec": {"containers": [{"name": n} for n in names]},
        "status": {"containerStatuses": [{"name": "base", "state": state}]},
    }


def test_termination_message_result_and_its_limits():
    assert parse_termination_message(finished('{"a": [1]}'), "base") == {"a": [1]}
    assert parse_termination_message(finished(None), "base") is NO_RESULT  # no file, or an empty one
    under = json.dumps("x" * 4093)
    assert parse_termination_message(finished(under), "base") == "x" * 4093
    with pytest.raises(XComResultError, match=r"4096 bytes or more.*xcom_transport='logs'"):
        parse_termination_message(finished(json.dumps("x" * 4094)), "base")
    # Four containers share the pod's 12 KiB: 3072 bytes each.
    assert termination_message_limit(finished("", containers=4)) == 3072
    with pytest.raises(XComResultError, match="3072 bytes or more"):
        parse_termination_message(finished(json.dumps("x" * 3070), containers=4), "base")
    with pytest.raises(XComResultError, match="not valid JSON"):
        parse_termination_message(finished("hello"), "base")


def run_wrapper(tmp_path, command: list[str], content: bytes | None) -> tuple[int, list[str]]:
    """The logs transport's wrapper run by a real ``sh``, the result file in ``tmp_path``."""
    path = tmp_path / "return.json"
    if content is not None:
        path.write_bytes(content)
    script = XCOM_LOGS_SCRIPT.replace(XCOM_RETURN_FILE, str(path))
    done = subprocess.run(
        ["sh", "-c", script, "k8spod-xcom", xcom_marker("t1"), *command], capture_output=True
    )
    return done.returncode, done.stdout.decode().splitlines()


def collect(lines: list[str], max_size: int = 10_000) -> tuple[object, list[str]]:
    collector = LogResultCollector(xcom_marker("t1"), max_size=max_size)
    kept = [line for line in lines if not collector.take(line)]
    return collector.result("base"), kept


def test_logs_wrapper_prints_the_result_after_the_command_and_keeps_its_exit_code(tmp_path):
    value = {"text": "line one\nline two", "n": list(range(200))}
    code, lines = run_wrapper(
        tmp_path, ["sh", "-c", "echo mine; exit 3"], json.dumps(value, indent=2).encode()
    )
    assert code == 3
    result, kept = collect(lines)
    assert result == value
    assert kept == ["mine"]
    assert max(len(line) for line in lines) < 120  # short lines: never split by the runtime's 16 KiB limit
    code, lines = run_wrapper(tmp_path / "none", ["true"], None)
    assert code == 0
    assert collect(lines) == (NO_RESULT, [])


def test_a_users_line_that_looks_like_a_result_is_never_taken_for_one():
    marker = xcom_marker("t1")
    other = xcom_marker("t2")  # another pod's marker, e.g. a log printed by a copied job
    lines = [
        f"{other} begin",
        f"{other} {base64.b64encode(b'1').decode()}",
        f"{other} end",
        "::k8spod-xcom- begin",
    ]
    result, kept = collect([*lines, f"{marker} none"])
    assert (result, kept) == (NO_RESULT, lines)


def test_logs_result_limits_and_losses():
    marker = xcom_marker("t1")
    encoded = base64.encodebytes(json.dumps("x" * 98).encode()).decode().splitlines()  # 100 bytes
    block = [f"{marker} begin", *(f"{marker} {line}" for line in encoded), f"{marker} end"]
    assert collect(block, max_size=100)[0] == "x" * 98
    with pytest.raises(XComResultError, match="larger than the limit of 99 bytes"):
        collect(block, max_size=99)
    with pytest.raises(XComResultError, match="was not found in the log of container 'base'"):
        collect(block[:-1])  # no end: the command was killed, or the log was cut
    with pytest.raises(XComResultError, match="lines of the log were lost"):
        collect([block[0], *block[2:-1], f"{marker} end {len(encoded)}"])  # a line lost
    with pytest.raises(XComResultError, match="not valid base64"):
        collect([block[0], block[1][:-1], *block[2:]])
    # A restarted container prints its result again: the last block wins.
    again = [f"{marker} begin", f"{marker} {base64.b64encode(b'2').decode()}", f"{marker} end"]
    assert collect(block + again)[0] == 2


def test_the_operator_refuses_an_unknown_transport_when_the_dag_is_parsed():
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    with pytest.raises(PodSpecError, match="xcom_transport: 'exec' is not a transport"):
        KubernetesPodOperator(task_id="t", image="i", xcom_transport="exec")


def test_the_connection_extra_chooses_the_transport_and_sidecar_arguments_do_not_go_unnoticed(monkeypatch):
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "k8spod", "extra": {"xcom_transport": "termination_message"}}),
    )
    op = KubernetesPodOperator(task_id="t", image="i", cmds=["job"], do_xcom_push=True)
    (main,) = op.build_pod_manifest()["spec"]["containers"]
    assert main["terminationMessagePath"] == XCOM_RETURN_FILE
    op = KubernetesPodOperator(
        task_id="t", image="i", cmds=["job"], do_xcom_push=True, xcom_transport="sidecar"
    )
    assert [c["name"] for c in op.build_pod_manifest()["spec"]["containers"]] == ["base", XCOM_SIDECAR_NAME]
    op = KubernetesPodOperator(
        task_id="t", image="i", cmds=["job"], do_xcom_push=True, xcom_sidecar_container_image="busybox"
    )
    with pytest.raises(PodSpecError, match="xcom_sidecar_container_image: there is no XCom sidecar"):
        op.build_pod_manifest()
