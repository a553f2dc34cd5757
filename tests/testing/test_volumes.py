"""PersistentVolumeClaims, PersistentVolumes and the default StorageClass, through the real clients."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import pod_manifest, wait_for

PREEMPTION = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


def claim(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}


def mounting(name: str, claim_name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    body = pod_manifest(name, command, **spec)
    body["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return body


def events(cluster: LocalCluster, ns: str, name: str) -> list[tuple[str, str, str, str]]:
    """(reason, source component, message, count) of the events about ``name``."""
    out = cluster.events(ns, involved_name=name)
    out.sort(key=lambda e: e["metadata"]["creationTimestamp"] + e["metadata"]["name"])
    return [
        (
            e["reason"],
            (e.get("source") or {}).get("component") or e.get("reportingComponent", ""),
            e["message"],
            str(e.get("count") or ""),
        )
        for e in out
    ]


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in pod["status"]["conditions"] if c["type"] == kind)


def test_claim_is_provisioned_for_its_first_pod_shared_and_removed_with_the_claim(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    created = core.create_namespaced_persistent_volume_claim(ns, claim("data"))
    assert created.spec.storage_class_name == "standard"  # the default class, set on admission
    assert created.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    wait_for(lambda: [e for e in events(cluster, ns, "data") if e[0] == "WaitForFirstConsumer"])
    assert core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Pending"

    core.create_namespaced_pod(ns, mounting("writer", "data", ["sh", "-c", "echo shared > /data/file"]))
    cluster.wait_for_pod(ns, "writer", phase="Succeeded")
    bound = core.read_namespaced_persistent_volume_claim("data", ns)
    assert bound.status.phase == "Bound"
    assert bound.status.capacity == {"storage": "1Gi"}
    assert bound.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert bound.metadata.annotations["volume.kubernetes.io/selected-node"] == "node-1"
    assert bound.spec.volume_name == f"pvc-{bound.metadata.uid}"
    volume = core.read_persistent_volume(bound.spec.volume_name)
    assert (volume.status.phase, volume.spec.persistent_volume_reclaim_policy) == ("Bound", "Delete")
    assert (volume.spec.claim_ref.name, volume.spec.claim_ref.uid) == ("data", bound.metadata.uid)
    directory = volume.spec.host_path.path
    assert os.path.isdir(directory)
    reasons = [(e[0], e[1].split("_")[0]) for e in events(cluster, ns, "data")]
    assert reasons == [
        ("WaitForFirstConsumer", "persistentvolume-controller"),
        ("ExternalProvisioning", "persistentvolume-controller"),
        ("Provisioning", "rancher.io/local-path"),
        ("ProvisioningSucceeded", "rancher.io/local-path"),
    ]

    # A second pod sees the first one's file; the claim outlives a deletion while the pod uses it.
    core.create_namespaced_pod(ns, mounting("reader", "data", ["sh", "-c", "cat /data/file; sleep 30"]))
    cluster.wait_for_pod(ns, "reader", phase="Running")
    if cluster.isolation == "namespaces":
        wait_for(lambda: core.read_namespaced_pod_log("reader", ns) == "shared\n")
    core.delete_namespaced_persistent_volume_claim("data", ns)
    time.sleep(0.3)
    terminating = core.read_namespaced_persistent_volume_claim("data", ns)
    assert terminating.metadata.deletion_timestamp is not None
    assert os.path.isdir(directory)

    core.delete_namespaced_pod("reader", ns, grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_persistent_volume_claim(ns).items)
    wait_for(
        lambda: (
            not [v for v in core.list_persistent_volume().items if v.metadata.name == volume.metadata.name]
        )
    )
    assert not os.path.exists(directory)


def test_pod_with_missing_claim_stays_pending_until_the_claim_exists(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, mounting("waits", "later", ["cat", "/data/none"]))
    pod = cluster.wait_for_pod(
        ns,
        "waits",
        condition=lambda p: any(c["type"] == "PodScheduled" for c in p["status"].get("conditions") or []),
    )
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert (
        scheduled["message"]
        == f'0/1 nodes are available: persistentvolumeclaim "later" not found. {PREEMPTION}'
    )
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    assert ("FailedScheduling", "default-scheduler") in [e[:2] for e in events(cluster, ns, "waits")]

    # A pod placed on a node directly skips the scheduler: the kubelet reports the claim, as it does.
    core.create_namespaced_pod(ns, mounting("placed", "later", ["sleep", "30"], nodeName="node-1"))
    message = wait_for(lambda: [e[2] for e in events(cluster, ns, "placed") if e[0] == "FailedMount"])[0]
    assert message == (
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process "
        f"volumes=[data]: error processing PVC {ns}/later: failed to fetch PVC from API server: "
        'persistentvolumeclaims "later" not found'
    )
    placed = cluster.pod(ns, "placed")
    assert placed is not None
    assert condition(placed, "PodReadyToStartContainers")["status"] == "False"

    core.create_namespaced_persistent_volume_claim(ns, claim("later"))
    cluster.wait_for_pod(ns, "waits", phase="Failed")  # scheduled, mounted, ran `cat` of a missing file
    running = cluster.wait_for_pod(ns, "placed", phase="Running")
    assert condition(running, "PodReadyToStartContainers")["status"] == "True"
    core.delete_namespaced_pod("placed", ns, grace_period_seconds=0)


def test_unbound_immediate_claim_binds_to_a_matching_volume(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    core.create_namespaced_persistent_volume_claim(ns, claim("static", storageClassName=""))
    core.create_namespaced_pod(ns, mounting("user", "static", ["sh", "-c", "echo hi > /data/out"]))
    pod = cluster.wait_for_pod(
        ns,
        "user",
        condition=lambda p: any(c["type"] == "PodScheduled" for c in p["status"].get("conditions") or []),
    )
    assert condition(pod, "PodScheduled")["message"] == (
        f"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. {PREEMPTION}"
    )
    assert (
        "FailedBinding",
        "persistentvolume-controller",
        "no persistent volumes available for this claim and no storage class is set",
        "1",
    ) in events(cluster, ns, "static")

    name = f"pv-{ns}"
    too_small = {
        "metadata": {"name": f"{name}-small"},
        "spec": {
            "capacity": {"storage": "10Mi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp"},
        },
    }
    core.create_persistent_volume(too_small)
    core.create_persistent_volume(
        {
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                "hostPath": {"path": str(tmp_path)},
            },
        }
    )
    cluster.wait_for_pod(ns, "user", phase="Succeeded")
    bound = core.read_namespaced_persistent_volume_claim("static", ns)
    assert (bound.status.phase, bound.spec.volume_name, bound.status.capacity) == (
        "Bound",
        name,
        {"storage": "2Gi"},
    )
    if cluster.isolation == "namespaces":
        assert (tmp_path / "out").read_text() == "hi\n"
    assert core.read_persistent_volume(f"{name}-small").status.phase == "Available"

    core.delete_namespaced_pod("user", ns)
    core.delete_namespaced_persistent_volume_claim("static", ns)
    released = wait_for(
        lambda: (
            core.read_persistent_volume(name).status.phase == "Released" and core.read_persistent_volume(name)
        )
    )
    assert released.spec.persistent_volume_reclaim_policy == "Retain"  # the default for a created volume
    assert tmp_path.is_dir()
    for volume in (name, f"{name}-small"):
        core.delete_persistent_volume(volume)
    wait_for(lambda: not [v for v in core.list_persistent_volume().items if v.metadata.name.startswith(name)])


def test_mount_retries_back_off(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("mnt", ["cat", "/cfg/k"])
    body["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "later"}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/cfg"}]
    core.create_namespaced_pod(ns, body)
    wait_for(lambda: [e for e in events(cluster, ns, "mnt") if e[0] == "FailedMount"])
    pod = cluster.pod(ns, "mnt")
    assert pod is not None
    assert [(c["type"], c["status"]) for c in pod["status"]["conditions"]] == [
        ("PodReadyToStartContainers", "False"),
        ("Initialized", "True"),
        ("Ready", "False"),
        ("ContainersReady", "False"),
        ("PodScheduled", "True"),
    ]
    time.sleep(2.5)
    failed = [e for e in events(cluster, ns, "mnt") if e[0] == "FailedMount"]
    # One aggregated event; retries 0.5 s, 1 s, 2 s apart (without back-off: one every retry tick, ~12).
    assert len(failed) == 1
    assert failed[0][2] == 'MountVolume.SetUp failed for volume "cfg" : configmap "later" not found'
    assert 2 <= int(failed[0][3]) <= 4
    core.create_namespaced_config_map(ns, {"metadata": {"name": "later"}, "data": {"k": "v"}})
    done = cluster.wait_for_pod(ns, "mnt", phase="Succeeded")
    assert (
        condition(done, "PodReadyToStartContainers")["lastTransitionTime"]
        >= condition(pod, "PodReadyToStartContainers")["lastTransitionTime"]
    )


def test_storage_api_list_watch_get_delete_and_validation(
    cluster: LocalCluster, api_client: kubernetes.client.ApiClient, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    storage = kubernetes.client.StorageV1Api(api_client)
    standard = storage.read_storage_class("standard")
    assert standard.provisioner == "rancher.io/local-path"
    assert standard.volume_binding_mode == "WaitForFirstConsumer"
    assert standard.metadata.annotations == {"storageclass.kubernetes.io/is-default-class": "true"}
    storage.create_storage_class(
        {"metadata": {"name": f"slow-{ns}"}, "provisioner": "example.com/nfs", "reclaimPolicy": "Retain"}
    )
    assert f"slow-{ns}" in [c.metadata.name for c in storage.list_storage_class().items]

    # A class whose provisioner is not running here: the claim waits, as it would on a real cluster.
    core.create_namespaced_persistent_volume_claim(ns, claim("nfs", storageClassName=f"slow-{ns}"))
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(core.list_namespaced_persistent_volume_claim, ns, timeout_seconds=1):
        seen.append((event["type"], event["object"].metadata.name, event["object"].status.phase))
    assert ("ADDED", "nfs", "Pending") in seen
    messages = [e[2] for e in events(cluster, ns, "nfs")]
    assert any("the external provisioner 'example.com/nfs'" in m for m in messages)

    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "bad"}, "spec": {}})
    assert invalid.value.status == 422
    assert json.loads(invalid.value.body)["message"] == (
        'PersistentVolumeClaim "bad" is invalid: [spec.accessModes: Required value: at least 1 access mode is '
        "required, spec.resources[storage]: Required value]"
    )
    with pytest.raises(ApiException) as missing:
        core.read_persistent_volume("nope")
    assert missing.value.status == 404

    core.delete_namespaced_persistent_volume_claim("nfs", ns)
    wait_for(lambda: not core.list_namespaced_persistent_volume_claim(ns).items)
    storage.delete_storage_class(f"slow-{ns}")
    assert f"slow-{ns}" not in [c.metadata.name for c in storage.list_storage_class().items]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_storage(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    core.create_namespaced_persistent_volume_claim(ns, claim("k"))
    core.create_namespaced_pod(ns, mounting("kp", "k", ["true"]))
    cluster.wait_for_pod(ns, "kp", phase="Succeeded")

    def kubectl(*args: str) -> list[list[str]]:
        out = subprocess.run(
            ["kubectl", f"--kubeconfig={cluster.kubeconfig_path}", f"--cache-dir={tmp_path}", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.split() for line in out.splitlines()]

    pvc = kubectl("get", "pvc", "-n", ns)
    assert pvc[0] == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS",
        "MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ]
    assert pvc[1][:6] == ["k", "Bound", pvc[1][2], "1Gi", "RWO", "standard"]
    assert [row[0] for row in kubectl("get", "sc")[1:]][:1] == ["standard"]
    assert kubectl("get", "sc")[1][1:5] == [
        "(default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
    ]
    pv = [row for row in kubectl("get", "pv") if row[0] == pvc[1][2]]
    assert pv[0][1:6] == ["1Gi", "RWO", "Delete", "Bound", f"{ns}/k"]


def test_generic_ephemeral_volume_lives_and_goes_with_its_pod(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("scratch", ["sh", "-c", "echo tmp > /data/f; cat /data/f; sleep 30"])
    body["spec"]["volumes"] = [
        {
            "name": "data",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "metadata": {"labels": {"kind": "scratch"}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            },
        }
    ]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod = core.create_namespaced_pod(ns, body)
    cluster.wait_for_pod(ns, "scratch", phase="Running")
    owned = core.read_namespaced_persistent_volume_claim("scratch-data", ns)
    assert owned.status.phase == "Bound"
    assert owned.metadata.labels == {"kind": "scratch"}
    owner = owned.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Pod", "scratch", pod.metadata.uid, True)
    if cluster.isolation == "namespaces":
        wait_for(lambda: core.read_namespaced_pod_log("scratch", ns) == "tmp\n")

    core.delete_namespaced_pod("scratch", ns, grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_persistent_volume_claim(ns).items)
    wait_for(
        lambda: (
            not [v for v in core.list_persistent_volume().items if v.spec.claim_ref.uid == owned.metadata.uid]
        )
    )

    # A claim of that name that the pod does not own is not used (the real scheduler's message).
    core.create_namespaced_persistent_volume_claim(ns, claim("scratch-data"))
    core.create_namespaced_pod(ns, body)
    waiting = cluster.wait_for_pod(
        ns,
        "scratch",
        condition=lambda p: any(c["type"] == "PodScheduled" for c in p["status"].get("conditions") or []),
    )
    assert condition(waiting, "PodScheduled")["message"] == (
        f"0/1 nodes are available: PVC {ns}/scratch-data was not created for pod {ns}/scratch (pod is not "
        f"owner). {PREEMPTION}"
    )
    core.delete_namespaced_pod("scratch", ns, grace_period_seconds=0)
