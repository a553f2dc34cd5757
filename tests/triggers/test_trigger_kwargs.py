"""What the trigger carries: its kwargs survive Airflow's serialization (the triggerer rebuilds the trigger
from them), hold no local file path, and the trigger never prints the credentials they contain."""

from __future__ import annotations

import json

import pytest

from airflow_provider_k8spod.hooks.access import ClusterAccess
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings, PodHandle
from airflow_provider_k8spod.triggers.pod import KubernetesPodTrigger

TOKEN = "sekret-token-value-123"


def _access() -> ClusterAccess:
    return ClusterAccess(
        kubeconfig={
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "users": [{"name": "u", "user": {"token": TOKEN}}],
        },
        namespace="ns",
        conn_id="k8s",
    )


def _trigger() -> KubernetesPodTrigger:
    handle = PodHandle(name="task-abc", namespace="ns", uid="u-1", main="base", managed=True)
    return KubernetesPodTrigger(
        handle=handle.to_dict(),
        access=_access().serialize(),
        settings=LifecycleSettings(skip_on_exit_code=(3,), do_xcom_push=True).to_dict(),
        conn_id="k8s",
        deadline=1_900_000_000.0,
        callbacks=["airflow_provider_k8spod.callbacks.KubernetesPodOperatorCallback"],
        on_kill_action="keep_pod",
        deferred_at=1_800_000_000.0,
    )


def test_kwargs_round_trip_through_airflow_serialization():
    from airflow.sdk.serde import deserialize, serialize

    classpath, kwargs = _trigger().serialize()
    assert classpath == "airflow_provider_k8spod.triggers.pod.KubernetesPodTrigger"
    rebuilt = KubernetesPodTrigger(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON: no objects, no paths


def test_trigger_never_shows_its_credentials():
    trigger = _trigger()
    assert TOKEN not in repr(trigger)
    assert repr(trigger) == "<KubernetesPodTrigger pod=ns/task-abc>"


def test_bad_kwargs_fail_where_the_trigger_is_made():
    with pytest.raises(ValueError, match="unknown lifecycle settings: nope"):
        KubernetesPodTrigger(handle=_trigger().handle, access=_trigger().access, settings={"nope": 1})


def test_for_pod_follows_an_existing_pod():
    trigger = KubernetesPodTrigger.for_pod(_access(), "mypod", "ns", main="main")
    _, kwargs = trigger.serialize()
    assert PodHandle.from_dict(kwargs["handle"]) == PodHandle("mypod", "ns", "", "main", managed=True)
    assert ClusterAccess.deserialize(kwargs["access"]) == _access()
