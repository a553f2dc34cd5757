"""Airflow runs a trigger again when its event was lost (the triggerer stopped after the trigger fired, before
the event was stored): the second run, on the pod the first one followed to its end, must give the same
result, XCom included, and print no line again (against the local cluster)."""

from __future__ import annotations

import asyncio
import logging

from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings
from airflow_provider_k8spod.triggers.pod import KubernetesPodTrigger
from tests.triggers._run import first_event, make_pods

SCRIPT = "for i in 1 2 3; do echo line $i; done; echo '{\"rows\": 3}' > /airflow/xcom/return.json"


def test_a_trigger_run_again_gives_the_same_result_and_repeats_no_line(
    local_cluster_connection, caplog, capfd
):
    cluster = local_cluster_connection
    hook, [name], access = make_pods(cluster, SCRIPT, xcom=True)  # 3 lines, an XCom left in its sidecar
    settings = LifecycleSettings(do_xcom_push=True)
    events, printed = [], []
    with caplog.at_level(logging.INFO):
        for _ in (1, 2):
            caplog.clear()
            capfd.readouterr()
            trigger = KubernetesPodTrigger.for_pod(access, name, "default", settings=settings)
            events.append(asyncio.run(first_event(trigger)))
            out, err = capfd.readouterr()
            printed.append("\n".join([out, err, *(r.getMessage() for r in caplog.records)]))
    assert [n for n in range(1, 4) if f"[base] line {n}" in printed[0]] == [1, 2, 3], printed[0]
    assert "[base] line" not in printed[1], printed[1]
    assert "where the previous follower stopped" in printed[1], printed[1]
    for event in events:
        assert event["status"] == "done", event
        assert event["result"]["verdict"]["outcome"] == "success", event
        assert event["result"]["xcom"] == {"rows": 3}, event
        assert event["sidecar_running"] is True
    # The worker stops the sidecar on re-entry; until then the pod waits (its main container is done), but
    # not for ever: the trigger gave it a deadline, in case Airflow never resumes the task.
    waiting = cluster.pod("default", name)
    assert waiting["status"]["phase"] == "Running"
    assert 1800 <= waiting["spec"]["activeDeadlineSeconds"] <= 1800 + 120
    hook.delete_pod(name, "default", grace_period_seconds=0)


def test_a_pod_whose_worker_never_resumes_is_stopped_by_kubernetes(local_cluster_connection, monkeypatch):
    """Airflow may fail a deferred task instance itself after its trigger fired (a stale executor event):
    nothing resumes it, and the XCom sidecar the trigger left running must not keep the pod alive."""
    import airflow_provider_k8spod.triggers.pod as trigger_module
    from airflow_provider_k8spod.pod import xcom

    monkeypatch.setattr(
        trigger_module,
        "sidecar_wait_deadline",
        lambda pod, now: xcom.sidecar_wait_deadline(pod, now=now, wait=2),
    )
    cluster = local_cluster_connection
    hook, [name], access = make_pods(cluster, SCRIPT, xcom=True)  # 3 lines, an XCom left in its sidecar
    trigger = KubernetesPodTrigger.for_pod(
        access, name, "default", settings=LifecycleSettings(do_xcom_push=True)
    )
    event = asyncio.run(first_event(trigger))
    assert event["sidecar_running"] is True
    ended = cluster.wait_for_pod("default", name, phase="Failed", timeout=30)
    assert ended is not None
    assert ended["status"].get("reason") == "DeadlineExceeded"
    assert not [p for p in cluster.container_processes() if p["pod"] == name]
    hook.delete_pod(name, "default", grace_period_seconds=0)
