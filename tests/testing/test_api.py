"""API server behaviour through the real ``kubernetes`` and ``kubernetes_asyncio`` clients."""

from __future__ import annotations

import base64
import json

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import pod_manifest, raw_request, wait_for
from tests.testing.conftest import async_api

pytestmark = pytest.mark.timeout(120)


def _status(exc: ApiException) -> dict[str, object]:
    return json.loads(exc.body)


def test_create_pod_returns_defaulted_object(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_pod(ns, pod_manifest("p1", ["sleep", "0"], grace=None))
    assert created.metadata.uid
    assert created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.status.phase == "Pending"
    assert created.status.qos_class == "BestEffort"
    spec = created.spec
    assert spec.termination_grace_period_seconds == 30
    assert spec.dns_policy == "ClusterFirst"
    assert spec.service_account_name == "default"
    assert spec.containers[0].termination_message_path == "/dev/termination-log"
    assert spec.containers[0].image_pull_policy == "IfNotPresent"
    assert any(v.name.startswith("kube-api-access-") for v in spec.volumes)
    assert {t.key for t in spec.tolerations} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }


def test_generate_name(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("x", ["true"])
    body["metadata"] = {"generateName": "job-"}
    created = core.create_namespaced_pod(ns, body)
    assert created.metadata.name.startswith("job-")
    assert len(created.metadata.name) == len("job-") + 5


def test_already_exists(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("dup", ["sleep", "5"]))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(ns, pod_manifest("dup", ["sleep", "5"]))
    assert info.value.status == 409
    assert _status(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "dup" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "dup", "kind": "pods"},
        "code": 409,
    }


def test_missing_namespace(core: kubernetes.client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod("nowhere", pod_manifest("p", ["true"]))
    assert info.value.status == 404
    body = _status(info.value)
    assert body["message"] == 'namespaces "nowhere" not found'
    assert body["reason"] == "NotFound"


def test_invalid_pod(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("Bad_Name", ["true"])
    body["spec"]["containers"].append({"name": "base", "image": ""})
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(ns, body)
    assert info.value.status == 422
    status = _status(info.value)
    assert status["reason"] == "Invalid"
    assert str(status["message"]).startswith(
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name"'
    )
    details = status["details"]
    assert isinstance(details, dict)
    assert [c["field"] for c in details["causes"]] == [
        "metadata.name",
        "spec.containers[1].name",
        "spec.containers[1].image",
    ]


def test_get_missing_pod(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("ghost", ns)
    assert info.value.status == 404
    assert _status(info.value)["message"] == 'pods "ghost" not found'


def test_list_with_selectors(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    for name, labels in (("a", {"app": "web", "tier": "front"}), ("b", {"app": "web"}), ("c", {"app": "db"})):
        body = pod_manifest(name, ["sleep", "5"])
        body["metadata"]["labels"] = labels
        core.create_namespaced_pod(ns, body)

    def names(**kwargs: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(ns, **kwargs).items]

    assert names() == ["a", "b", "c"]
    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app in (web,db),!tier") == ["b", "c"]
    assert names(label_selector="tier") == ["a"]
    assert names(label_selector="app!=web") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    assert names(field_selector="status.phase=Succeeded") == []
    listing = core.list_namespaced_pod(ns)
    assert int(listing.metadata.resource_version) >= max(
        int(p.metadata.resource_version) for p in listing.items
    )
    all_ns = core.list_pod_for_all_namespaces(label_selector="app=db")
    assert [p.metadata.name for p in all_ns.items] == ["c"]


def test_bad_selector_is_400(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod(ns, field_selector="spec.nope=1")
    assert info.value.status == 400
    assert _status(info.value)["message"] == "field label not supported: spec.nope"


def test_pagination(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}"}, "data": {"k": str(i)}})
    first = core.list_namespaced_config_map(ns, limit=2)
    assert len(first.items) == 2
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == 4  # 5 + kube-root-ca.crt - 2
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(ns, limit=2, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert seen == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "kube-root-ca.crt"]


def test_patch_labels_merge_and_strategic(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("p", ["sleep", "5"])
    body["metadata"]["labels"] = {"a": "1"}
    created = core.create_namespaced_pod(ns, body)
    patched = core.patch_namespaced_pod(
        "p", ns, {"metadata": {"labels": {"b": "2"}, "annotations": {"x": "y"}}}
    )
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert patched.metadata.annotations == {"x": "y"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    merged = core.patch_namespaced_pod(
        "p", ns, {"metadata": {"labels": {"a": None}}}, _content_type="application/merge-patch+json"
    )
    assert merged.metadata.labels == {"b": "2"}
    json_patched = core.patch_namespaced_pod(
        "p", ns, [{"op": "add", "path": "/metadata/labels/c", "value": "3"}]
    )
    assert json_patched.metadata.labels == {"b": "2", "c": "3"}


def test_patch_forbidden_spec_change(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("p", ["sleep", "5"]))
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_pod("p", ns, {"spec": {"restartPolicy": "Always"}})
    assert info.value.status == 422
    assert "pod updates may not change fields other than" in str(_status(info.value)["message"])


def test_replace_with_stale_resource_version(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"k": "1"}})
    current = core.read_namespaced_config_map("cfg", ns)
    current.data = {"k": "2"}
    updated = core.replace_namespaced_config_map("cfg", ns, current)
    assert updated.data == {"k": "2"}
    current.data = {"k": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cfg", ns, current)
    assert info.value.status == 409
    assert _status(info.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; please apply your '
        "changes to the latest version and try again"
    )


def test_configmaps_and_secrets(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"a.txt": "hello"}})
    assert core.read_namespaced_config_map("cfg", ns).data == {"a.txt": "hello"}
    secret = core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": "sec"},
            "stringData": {"user": "me"},
            "data": {"pw": base64.b64encode(b"x").decode()},
        },
    )
    assert secret.type == "Opaque"
    assert secret.data == {"pw": "eA==", "user": base64.b64encode(b"me").decode()}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_secret(ns, {"metadata": {"name": "bad"}, "data": {"k": "not base64!"}})
    assert info.value.status == 400
    names = [s.metadata.name for s in core.list_namespaced_secret(ns).items]
    assert names == ["sec"]
    status = core.delete_namespaced_config_map("cfg", ns)  # kubernetes 37 returns deletes as plain dicts
    assert status["kind"] == "Status"
    assert status["status"] == "Success"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("cfg", ns)
    assert missing.value.status == 404


def test_unauthenticated_requests(cluster: LocalCluster) -> None:
    status, headers, body = raw_request(cluster, "GET", "/api/v1/namespaces/default/pods", token=None)
    assert status == 401
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    status, _, _ = raw_request(cluster, "GET", "/api/v1/namespaces", token="wrong")
    assert status == 401
    status, _, body = raw_request(cluster, "GET", "/healthz", token=None)
    assert (status, body) == (200, b"ok")


def test_discovery_and_unknown_paths(cluster: LocalCluster) -> None:
    status, _, body = raw_request(cluster, "GET", "/api")
    assert status == 200
    assert json.loads(body)["versions"] == ["v1"]
    resources = json.loads(raw_request(cluster, "GET", "/api/v1")[2])
    names = {r["name"] for r in resources["resources"]}
    assert {
        "pods",
        "pods/log",
        "pods/exec",
        "events",
        "configmaps",
        "secrets",
        "namespaces",
        "nodes",
    } <= names
    assert json.loads(raw_request(cluster, "GET", "/version")[2])["major"] == "1"
    status, _, body = raw_request(cluster, "GET", "/api/v1/widgets")
    assert status == 404
    assert json.loads(body)["message"] == "the server could not find the requested resource"


def test_version_with_client(api_client: kubernetes.client.ApiClient) -> None:
    info = kubernetes.client.VersionApi(api_client).get_code()
    assert info.git_version.startswith("v1.32")


def test_nodes_and_namespaces(core: kubernetes.client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["node-1"]
    assert nodes[0].metadata.labels["kubernetes.io/hostname"] == "node-1"
    ready = next(c for c in nodes[0].status.conditions if c.type == "Ready")
    assert ready.status == "True"
    namespaces = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= namespaces


def test_delete_collection(core: kubernetes.client.CoreV1Api, ns: str, cluster: LocalCluster) -> None:
    for name in ("a", "b", "c"):
        body = pod_manifest(name, ["sleep", "30"], grace=0)
        body["metadata"]["labels"] = {"group": "x" if name != "c" else "y"}
        core.create_namespaced_pod(ns, body)
    core.delete_collection_namespaced_pod(ns, label_selector="group=x")
    wait_for(lambda: [p["metadata"]["name"] for p in cluster.pods(ns)] == ["c"])


def test_events_field_selector(core: kubernetes.client.CoreV1Api, ns: str, cluster: LocalCluster) -> None:
    core.create_namespaced_pod(ns, pod_manifest("ev", ["true"]))
    cluster.wait_for_pod(ns, "ev", phase="Succeeded")
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=ev").items
    reasons = [e.reason for e in events]
    assert reasons[:1] == ["Scheduled"]
    assert {"Pulled", "Created", "Started"} <= set(reasons)
    started = next(e for e in events if e.reason == "Started")
    assert started.involved_object.field_path == "spec.containers{base}"
    assert started.source.component == "kubelet"
    assert started.type == "Normal"
    assert started.count == 1
    uid = core.read_namespaced_pod("ev", ns).metadata.uid
    by_uid = core.list_namespaced_event(ns, field_selector=f"involvedObject.uid={uid},reason=Started").items
    assert [e.reason for e in by_uid] == ["Started"]


def test_pod_status_subresource_and_eviction(
    core: kubernetes.client.CoreV1Api, ns: str, cluster: LocalCluster
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("s", ["sleep", "30"], grace=0))
    cluster.wait_for_pod(ns, "s", phase="Running")
    status = core.read_namespaced_pod_status("s", ns)
    assert status.status.phase == "Running"
    core.create_namespaced_pod_eviction(
        "s", ns, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "s", "namespace": ns}}
    )
    cluster.wait_for_pod(ns, "s", gone=True)


async def test_async_client_crud(cluster: LocalCluster, ns: str) -> None:
    client = await async_api(cluster)
    try:
        core = kubernetes_asyncio.client.CoreV1Api(client)
        await core.create_namespaced_pod(ns, pod_manifest("ap", ["sleep", "1"]))
        pod = await core.read_namespaced_pod("ap", ns)
        assert pod.metadata.name == "ap"
        listing = await core.list_namespaced_pod(ns, label_selector="!nothing")
        assert [p.metadata.name for p in listing.items] == ["ap"]
        with pytest.raises(kubernetes_asyncio.client.exceptions.ApiException) as info:
            await core.read_namespaced_pod("nope", ns)
        assert info.value.status == 404
        deleted = await core.delete_namespaced_pod("ap", ns, grace_period_seconds=0)
        assert deleted.metadata.name == "ap"
        assert deleted.kind == "Pod"
    finally:
        await client.close()


def test_stats_count_verbs(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    cluster.reset_stats()
    core.create_namespaced_pod(ns, pod_manifest("st", ["sleep", "5"], grace=0))
    core.read_namespaced_pod("st", ns)
    core.read_namespaced_pod("st", ns)
    core.list_namespaced_pod(ns)
    core.list_namespaced_event(ns)
    core.patch_namespaced_pod("st", ns, {"metadata": {"labels": {"a": "b"}}})
    w = kubernetes.watch.Watch()
    for _ in w.stream(core.list_namespaced_pod, ns, timeout_seconds=1):
        w.stop()
    core.delete_namespaced_pod("st", ns)
    stats = cluster.stats()
    assert stats["create pods"] == 1
    assert stats["get pods"] == 2
    assert stats["list pods"] == 1
    assert stats["list events"] == 1
    assert stats["patch pods"] == 1
    assert stats["watch pods"] == 1
    assert stats["delete pods"] == 1
    cluster.pods(ns)
    assert cluster.stats() == stats


def test_finalizers_hold_a_deleted_pod(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("fin", ["sleep", "60"], grace=0)
    body["metadata"]["finalizers"] = ["example.com/keep"]
    core.create_namespaced_pod(ns, body)
    cluster.wait_for_pod(ns, "fin", phase="Running")
    core.delete_namespaced_pod("fin", ns, grace_period_seconds=0)
    held = cluster.wait_for_pod(ns, "fin", phase="Failed")
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]
    assert not [p for p in cluster.container_processes() if p["pod"] == "fin"]
    core.patch_namespaced_pod(
        "fin", ns, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    cluster.wait_for_pod(ns, "fin", gone=True)
