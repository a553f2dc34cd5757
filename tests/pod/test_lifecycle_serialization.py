"""Everything the trigger carries (settings, handle, result with its verdict and failure record) survives
a trip through JSON unchanged: what the triggerer decides is what the worker reads back."""

from __future__ import annotations

import json

import pytest

from airflow_provider_k8spod.exceptions import XComResultError
from airflow_provider_k8spod.pod import status as st
from airflow_provider_k8spod.pod.identity import TaskIdentity
from airflow_provider_k8spod.pod.lifecycle import LifecycleResult, LifecycleSettings, PodHandle
from airflow_provider_k8spod.pod.logs import LogCursor, parse_line
from airflow_provider_k8spod.pod.xcom import NO_RESULT


def _through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "settings",
    [
        LifecycleSettings(),
        LifecycleSettings(
            container_logs=("base", "sidecar"),
            init_container_logs=True,
            skip_on_exit_code=(3, 100),
            on_finish_action="keep_pod",
            termination_grace_period=7,
            do_xcom_push=True,
            xcom_inline_limit=1024,
            poll_interval=5.0,
        ),
    ],
)
def test_settings_round_trip(settings):
    assert LifecycleSettings.from_dict(_through_json(settings.to_dict())) == settings


def test_settings_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown lifecycle settings: bogus"):
        LifecycleSettings.from_dict({"bogus": 1})


def test_handle_round_trip_and_of_pod():
    pod = {
        "metadata": {
            "name": "task-abc",
            "namespace": "ns",
            "uid": "u-1",
            "labels": {"kubernetes_pod_operator": "True"},
            "annotations": {
                "app.kubernetes.io/managed-by": "airflow-provider-k8spod",
                "airflow-provider-k8spod/dag_id": "d",
                "airflow-provider-k8spod/task_id": "t",
                "airflow-provider-k8spod/run_id": "r",
                "airflow-provider-k8spod/map_index": "2",
                "airflow-provider-k8spod/try_number": "3",
            },
        },
        "spec": {"containers": [{"name": "base"}]},
    }
    handle = PodHandle.of(pod, adopted=True)
    assert handle.managed
    assert handle.adopted
    assert handle.main == "base"
    assert handle.identity == TaskIdentity("d", "t", "r", 2, 3)
    assert PodHandle.from_dict(_through_json(handle.to_dict())) == handle
    # Upstream's operator made a pod with the same labels: not ours, so followed on its own watch.
    pod["metadata"]["annotations"].pop("app.kubernetes.io/managed-by")
    assert not PodHandle.of(pod).managed
    # A pod of an earlier version (the marker was a label then) is still ours after an upgrade.
    pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "airflow-provider-k8spod"
    assert PodHandle.of(pod).managed


def _record() -> st.FailureRecord:
    return st.FailureRecord(
        pod="p",
        namespace="ns",
        phase="Failed",
        reason="Evicted",
        message="The node was low on resource: memory.",
        node="node-1",
        containers=(st.ContainerRecord("base", "container", "terminated", "OOMKilled", 137, None, "", 2),),
        warnings=("Warning Evicted: low memory",),
        oom_killed=True,
        deleted=True,
    )


@pytest.mark.parametrize(
    "result",
    [
        LifecycleResult(st.Verdict(st.Outcome.SUCCESS, "container 'base' exited with 0", 0), {}, {"a": [1]}),
        LifecycleResult(st.Verdict(st.Outcome.SKIP, "exit 100", 100), {"metadata": {"name": "p"}}),
        LifecycleResult(
            st.Verdict(st.Outcome.FAILURE, "the pod did not start", None, _record(), "ImagePullBackOff"),
            {"metadata": {"name": "p"}},
            started=False,
        ),
        LifecycleResult(st.Verdict(st.Outcome.FAILURE, "deadline", None, _record()), {}, timed_out=True),
        LifecycleResult(st.Verdict(st.Outcome.SUCCESS, "ok", 0), {}, NO_RESULT, xcom_pending=True),
        LifecycleResult(st.Verdict(st.Outcome.SUCCESS, "ok", 0), {}, None),
    ],
)
def test_result_round_trip(result):
    back = LifecycleResult.from_dict(_through_json(result.to_dict()))
    assert back == result


def test_result_carries_the_xcom_error_message_and_drops_managed_fields():
    result = LifecycleResult(
        st.Verdict(st.Outcome.SUCCESS, "ok", 0),
        {"metadata": {"name": "p", "managedFields": [{"manager": "x"}]}},
        xcom_error=XComResultError("return.json is not valid JSON"),
    )
    back = LifecycleResult.from_dict(_through_json(result.to_dict()))
    assert isinstance(back.xcom_error, XComResultError)
    assert str(back.xcom_error) == "return.json is not valid JSON"
    assert back.pod == {"metadata": {"name": "p"}}


def test_log_cursor_round_trip_resumes_without_repeating():
    lines = [parse_line(f"2024-01-01T00:00:0{i // 2}.000000000Z line {i}".encode()) for i in range(6)]
    cursor = LogCursor()
    for line in lines[:3]:
        cursor.new_stream() if line is lines[0] else None
        assert cursor.admit(line)
    resumed = LogCursor.from_dict(_through_json(cursor.to_dict()))
    resumed.new_stream()
    # The next stream starts at the last timestamp delivered (inclusive): nothing twice, nothing lost.
    admitted = [line.text for line in lines[2:] if resumed.admit(line)]
    assert admitted == ["line 3", "line 4", "line 5"]
    assert LogCursor.from_dict({}).last is None
