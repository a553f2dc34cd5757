"""Service accounts, RBAC and tokens, through the real ``kubernetes`` client and kubectl.

Each probe failed before the cluster had them: a pod naming a missing service account was created (201),
Roles and RoleBindings were 404, every token had full rights, and kubectl's typed commands (protobuf
bodies), ``--as`` and ``auth can-i`` did not work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from airflow_provider_k8spod.testing import LocalCluster
from airflow_provider_k8spod.testing.apiserver import rbac
from tests.testing._helpers import pod_manifest, raw_request

pytestmark = pytest.mark.timeout(120)

GROUP = "rbac.authorization.k8s.io"
KUBECTL = shutil.which("kubectl")


def _client(path: str) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=path, client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


def _status(exc: ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def _denied(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 403, info.value.body
    return _status(info.value)


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "rules": rules}


def _binding(name: str, kind: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role},
        "subjects": subjects,
    }


@pytest.fixture(scope="module")
def rbac_api(api_client: kubernetes.client.ApiClient) -> kubernetes.client.RbacAuthorizationV1Api:
    return kubernetes.client.RbacAuthorizationV1Api(api_client)


# ------------------------------------------------------------------------------ service accounts


def test_default_service_account_in_every_namespace(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    first = core.list_namespaced_service_account(ns).items
    assert [sa.metadata.name for sa in first] == ["default"]
    core.delete_namespaced_service_account("default", ns)  # the controller puts it back at once
    again = core.read_namespaced_service_account("default", ns)
    assert again.metadata.uid != first[0].metadata.uid


def test_pod_with_a_missing_service_account_is_forbidden(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    status = _denied(
        lambda: core.create_namespaced_pod(ns, pod_manifest("p", ["true"], serviceAccountName="x"))
    )
    assert status["message"] == (
        f'pods "p" is forbidden: error looking up service account {ns}/x: serviceaccount "x" not found'
    )
    assert status["reason"] == "Forbidden"
    assert status["details"] == {"name": "p", "kind": "pods"}
    body = pod_manifest("ignored", ["true"], serviceAccount="y")
    body["metadata"] = {"generateName": "gen-"}
    status = _denied(lambda: core.create_namespaced_pod(ns, body))
    assert status["message"].startswith(f'pods "gen-" is forbidden: error looking up service account {ns}/y:')


def test_service_account_admission_defaults(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_service_account(
        ns,
        {
            "metadata": {"name": "quiet"},
            "automountServiceAccountToken": False,
            "imagePullSecrets": [{"name": "registry"}],
        },
    )
    pod = core.create_namespaced_pod(ns, pod_manifest("q", ["true"], serviceAccountName="quiet"))
    assert (pod.spec.service_account_name, pod.spec.service_account) == ("quiet", "quiet")
    assert [s.name for s in pod.spec.image_pull_secrets] == ["registry"]
    assert not pod.spec.volumes
    pod = core.create_namespaced_pod(ns, pod_manifest("d", ["true"]))
    assert pod.spec.service_account_name == "default"
    assert pod.spec.volumes[0].name.startswith("kube-api-access-")


# ------------------------------------------------------------------------------------- the Role


OPERATOR_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
]


@pytest.fixture
def worker(
    cluster: LocalCluster,
    core: kubernetes.client.CoreV1Api,
    rbac_api: kubernetes.client.RbacAuthorizationV1Api,
    ns: str,
) -> Iterator[kubernetes.client.CoreV1Api]:
    """A CoreV1Api authenticated as service account ``worker``, bound to exactly OPERATOR_RULES in ``ns``."""
    core.create_namespaced_service_account(ns, {"metadata": {"name": "worker"}})
    rbac_api.create_namespaced_role(ns, _role("operator", OPERATOR_RULES))
    rbac_api.create_namespaced_role_binding(
        ns, _binding("operator", "Role", "operator", [{"kind": "ServiceAccount", "name": "worker"}])
    )
    client = _client(cluster.service_account_kubeconfig(ns, "worker"))
    yield kubernetes.client.CoreV1Api(client)
    client.close()


def test_role_allows_exactly_its_rules(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, worker: kubernetes.client.CoreV1Api, ns: str
) -> None:
    user = f"system:serviceaccount:{ns}:worker"
    worker.create_namespaced_pod(ns, pod_manifest("run", ["sh", "-c", "echo hello; sleep 30"], grace=0))
    cluster.wait_for_pod(ns, "run", phase="Running")
    assert [p.metadata.name for p in worker.list_namespaced_pod(ns).items] == ["run"]
    assert worker.read_namespaced_pod("run", ns).status.phase == "Running"
    assert cluster.wait_for_pod(ns, "run", condition=lambda _: bool(core.read_namespaced_pod_log("run", ns)))
    assert worker.read_namespaced_pod_log("run", ns) == "hello\n"
    assert worker.list_namespaced_event(ns).items is not None
    exec_out = stream(
        worker.connect_get_namespaced_pod_exec, "run", ns, command=["echo", "in"], stdout=True, stderr=True
    )
    assert exec_out == "in\n"
    # The websocket exec (a GET) needs both verbs, as from Kubernetes 1.35: "get" alone is not enough.
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(core.api_client)
    rules = [r for r in OPERATOR_RULES if r["resources"] != ["pods/exec"]]
    rbac_api.patch_namespaced_role(
        "operator", ns, {"rules": [*rules, {**OPERATOR_RULES[-1], "verbs": ["get"]}]}
    )
    with pytest.raises(ApiException) as no_create:
        stream(worker.connect_get_namespaced_pod_exec, "run", ns, command=["true"], stdout=True, stderr=True)
    text = str(no_create.value).replace('\\"', '"')  # the Status body, as the handshake error quotes it
    assert f'cannot create resource "pods/exec" in API group "" in the namespace "{ns}"' in text
    rbac_api.patch_namespaced_role("operator", ns, {"rules": OPERATOR_RULES})
    watch = kubernetes.watch.Watch()
    first = next(iter(watch.stream(worker.list_namespaced_pod, ns, timeout_seconds=5)))
    watch.stop()
    assert first["object"].metadata.name == "run"

    denials = {
        "update": lambda: worker.patch_namespaced_pod("run", ns, {"metadata": {"labels": {"a": "b"}}}),
        "eviction": lambda: worker.create_namespaced_pod_eviction("run", ns, {"metadata": {"name": "run"}}),
        "configmaps": lambda: worker.list_namespaced_config_map(ns),
        "secret": lambda: worker.read_namespaced_secret("s", ns),
        "event create": lambda: worker.create_namespaced_event(
            ns, {"metadata": {"name": "e"}, "involvedObject": {}}
        ),
        "all namespaces": lambda: worker.list_pod_for_all_namespaces(),
        "other namespace": lambda: worker.list_namespaced_pod("default"),
        "deletecollection": lambda: worker.delete_collection_namespaced_pod(ns),
    }
    messages = {what: _denied(call) for what, call in denials.items()}
    assert messages["update"]["message"] == (
        f'pods "run" is forbidden: User "{user}" cannot patch resource "pods" in API group "" in the namespace "{ns}"'
    )
    assert messages["update"]["details"] == {"name": "run", "kind": "pods"}
    assert messages["eviction"]["message"] == (
        f'pods "run" is forbidden: User "{user}" cannot create resource "pods/eviction" in API group "" in the '
        f'namespace "{ns}"'
    )
    assert messages["configmaps"]["message"] == (
        f'configmaps is forbidden: User "{user}" cannot list resource "configmaps" in API group "" in the '
        f'namespace "{ns}"'
    )
    assert messages["configmaps"]["details"] == {"kind": "configmaps"}
    assert messages["all namespaces"]["message"] == (
        f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" at the cluster scope'
    )
    assert messages["other namespace"]["message"].endswith('in the namespace "default"')
    assert "cannot deletecollection resource" in messages["deletecollection"]["message"]
    worker.delete_namespaced_pod("run", ns)


def test_missing_role_and_group_subjects(
    cluster: LocalCluster,
    core: kubernetes.client.CoreV1Api,
    rbac_api: kubernetes.client.RbacAuthorizationV1Api,
    ns: str,
) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "bot"}})
    bot = kubernetes.client.CoreV1Api(_client(cluster.service_account_kubeconfig(ns, "bot")))
    rbac_api.create_namespaced_role_binding(
        ns, _binding("dangling", "Role", "missing", [{"kind": "ServiceAccount", "name": "bot"}])
    )
    status = _denied(lambda: bot.list_namespaced_config_map(ns))
    assert status["message"].endswith(f': RBAC: role.{GROUP} "missing" not found')
    # Every service account of the namespace, through its group, may read config maps named "settings".
    rbac_api.create_namespaced_role(
        ns,
        _role(
            "settings",
            [
                {
                    "apiGroups": ["*"],
                    "resources": ["configmaps"],
                    "verbs": ["*"],
                    "resourceNames": ["settings"],
                }
            ],
        ),
    )
    rbac_api.create_namespaced_role_binding(
        ns,
        _binding("settings", "Role", "settings", [{"kind": "Group", "name": f"system:serviceaccounts:{ns}"}]),
    )
    core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    assert bot.read_namespaced_config_map("settings", ns).data == {"a": "1"}
    assert bot.patch_namespaced_config_map("settings", ns, {"data": {"a": "2"}}).data == {"a": "2"}
    assert _denied(lambda: bot.read_namespaced_config_map("other", ns))["details"]["name"] == "other"
    _denied(lambda: bot.list_namespaced_config_map(ns))  # resourceNames never allow a list
    assert len(bot.list_namespaced_config_map(ns, field_selector="metadata.name=settings").items) == 1


def test_cluster_role_binding_and_aggregation(
    cluster: LocalCluster,
    core: kubernetes.client.CoreV1Api,
    rbac_api: kubernetes.client.RbacAuthorizationV1Api,
    ns: str,
) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "viewer"}})
    viewer = kubernetes.client.CoreV1Api(_client(cluster.service_account_kubeconfig(ns, "viewer")))
    name = f"view-{ns}"
    rbac_api.create_cluster_role_binding(
        _binding(name, "ClusterRole", "view", [{"kind": "ServiceAccount", "name": "viewer", "namespace": ns}])
    )
    try:
        assert viewer.list_pod_for_all_namespaces().items is not None
        _denied(lambda: viewer.list_namespaced_secret(ns))
        # A ClusterRole labelled to aggregate into "view" extends it (as the aggregation controller does).
        rbac_api.create_cluster_role(
            {
                "metadata": {"name": name, "labels": {f"{GROUP}/aggregate-to-view": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
            }
        )
        assert viewer.list_namespaced_secret(ns).items == []
        # ... and, through the chain view -> edit -> admin, "admin" too.
        assert (["secrets"], ["list"]) in [
            (r.resources, r.verbs) for r in rbac_api.read_cluster_role("admin").rules
        ]
        rbac_api.delete_cluster_role(name)
        _denied(lambda: viewer.list_namespaced_secret(ns))
    finally:
        rbac_api.delete_cluster_role_binding(name)


def test_rbac_validation(rbac_api: kubernetes.client.RbacAuthorizationV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as info:
        rbac_api.create_namespaced_role(ns, _role("r", [{"resources": ["pods"], "verbs": []}]))
    assert _status(info.value)["message"] == (
        'Role.rbac.authorization.k8s.io "r" is invalid: [rules[0].verbs: Required value: verbs must contain at '
        "least one value, rules[0].apiGroups: Required value: resource rules must supply at least one api group]"
    )
    assert _status(info.value)["details"]["group"] == GROUP
    binding = _binding("b", "Role", "r", [{"kind": "ServiceAccount", "name": "sa"}])
    rbac_api.create_namespaced_role_binding(ns, binding)
    binding["roleRef"]["name"] = "other"
    with pytest.raises(ApiException) as changed:
        rbac_api.replace_namespaced_role_binding("b", ns, binding)
    assert "roleRef: Invalid value" in _status(changed.value)["message"]
    assert "cannot change roleRef" in _status(changed.value)["message"]


# ---------------------------------------------------------------------------------------- tokens


def test_tokens(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "t"}})
    token = cluster.service_account_token(ns, "t")
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    status, _, reply = raw_request(cluster, "POST", path, body=body, token=token)
    assert status == 201
    assert json.loads(reply)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:t"
    other = cluster.service_account_token(ns, "t", audiences=["vault"])
    assert raw_request(cluster, "POST", path, body=body, token=other)[0] == 401
    assert raw_request(cluster, "POST", path, body=body, token=token[:-2] + "xx")[0] == 401
    with pytest.raises(Exception, match="may not specify a duration less than 10 minutes"):
        cluster.service_account_token(ns, "t", expiration_seconds=60)
    extra = json.loads(cluster.airflow_connection(ns, service_account="t"))["extra"]
    assert extra["namespace"] == ns
    with _client(extra["kube_config_path"]) as client:
        review = kubernetes.client.AuthenticationV1Api(client).create_self_subject_review({})
    assert review.status.user_info.username == f"system:serviceaccount:{ns}:t"
    core.delete_namespaced_service_account("t", ns)
    assert raw_request(cluster, "POST", path, body=body, token=token)[0] == 401


def test_impersonation(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    headers = {"Impersonate-User": "bob", "Impersonate-Group": "devs", "Impersonate-Uid": "42"}
    status, _, reply = raw_request(cluster, "POST", path, body=body, headers=headers)
    assert status == 201
    assert json.loads(reply)["status"]["userInfo"] == {
        "username": "bob",
        "uid": "42",
        "groups": ["devs", "system:authenticated"],
    }
    core.create_namespaced_service_account(ns, {"metadata": {"name": "imp"}})
    token = cluster.service_account_token(ns, "imp")
    status, _, reply = raw_request(cluster, "POST", path, body=body, headers=headers, token=token)
    assert status == 403
    assert json.loads(reply)["message"] == (
        f'users "bob" is forbidden: User "system:serviceaccount:{ns}:imp" cannot impersonate resource "users" in '
        f'API group "" at the cluster scope'
    )


# --------------------------------------------------------------------------------------- kubectl


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_rbac(cluster: LocalCluster, ns: str, tmp_path: Path) -> None:
    def kubectl(*args: str, config: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=config or cluster.kubeconfig_path, HOME=str(tmp_path))
        return subprocess.run(
            [str(KUBECTL), f"--cache-dir={tmp_path / 'cache'}", "-n", ns, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    for command in (
        ["create", "serviceaccount", "ci"],
        ["create", "role", "reader", "--verb=get,list,watch", "--resource=pods,pods/log"],
        ["create", "rolebinding", "ci-reader", "--role=reader", f"--serviceaccount={ns}:ci"],
    ):
        assert kubectl(*command).returncode == 0, kubectl(*command).stderr
    token = kubectl("create", "token", "ci", "--duration=10m").stdout.strip()
    assert token.count(".") == 2
    config = cluster.service_account_kubeconfig(ns, "ci")
    assert kubectl("auth", "can-i", "list", "pods", config=config).stdout == "yes\n"
    assert kubectl("auth", "can-i", "get", "pods", "--subresource=log", config=config).stdout == "yes\n"
    denied = kubectl("auth", "can-i", "delete", "pods", config=config)
    assert (denied.returncode, denied.stdout) == (1, "no\n")
    assert kubectl("auth", "can-i", "list", "pods", f"--as=system:serviceaccount:{ns}:ci").stdout == "yes\n"
    assert kubectl("auth", "can-i", "list", "secrets", f"--as=system:serviceaccount:{ns}:ci").stdout == "no\n"
    whoami = kubectl("auth", "whoami", "-o", "json", config=config)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:ci"
    forbidden = kubectl("get", "configmaps", config=config)
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == (
        f'Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:{ns}:ci" cannot '
        f'list resource "configmaps" in API group "" in the namespace "{ns}"'
    )
    table = kubectl("get", "rolebindings", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert table[1].split()[:2] == ["ci-reader", "Role/reader"]
    assert table[1].split()[-1] == f"{ns}/ci"
    missing = kubectl("get", "role", "nope")
    assert missing.stderr.strip() == f'Error from server (NotFound): roles.{GROUP} "nope" not found'
    # The storage resources are authorized too, under their own names and groups (short names resolved).
    as_ci = f"--as=system:serviceaccount:{ns}:ci"
    assert kubectl("auth", "can-i", "list", "pvc").stdout == "yes\n"
    assert kubectl("auth", "can-i", "list", "pvc", as_ci).stdout == "no\n"
    assert (
        kubectl(
            "create", "rolebinding", "ci-edit", "--clusterrole=edit", f"--serviceaccount={ns}:ci"
        ).returncode
        == 0
    )
    assert kubectl("auth", "can-i", "create", "persistentvolumeclaims", as_ci).stdout == "yes\n"
    assert kubectl("auth", "can-i", "list", "pv", as_ci).stdout == "no\n"
    assert kubectl("auth", "can-i", "list", "sc", as_ci).stdout == "no\n"
    assert kubectl("auth", "can-i", "list", "storageclasses.storage.k8s.io").stdout == "yes\n"


def _pb_field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_bodies(
    cluster: LocalCluster, rbac_api: kubernetes.client.RbacAuthorizationV1Api, ns: str
) -> None:
    """kubectl's typed commands send protobuf: the kinds it sends that way are read, others get 415."""

    def envelope(kind: str, group_version: str, raw: bytes) -> bytes:
        type_meta = _pb_field(1, group_version.encode()) + _pb_field(2, kind.encode())
        return b"k8s\x00" + _pb_field(1, type_meta) + _pb_field(2, raw)

    rule = _pb_field(1, b"get") + _pb_field(2, b"") + _pb_field(3, b"pods")
    role = _pb_field(1, _pb_field(1, b"pb")) + _pb_field(2, rule)
    headers = {"Content-Type": "application/vnd.kubernetes.protobuf"}
    path = f"/apis/{GROUP}/v1/namespaces/{ns}/roles"
    status, _, _ = raw_request(
        cluster, "POST", path, body=envelope("Role", f"{GROUP}/v1", role), headers=headers
    )
    assert status == 201
    stored = rbac_api.read_namespaced_role("pb", ns)
    assert [(r.api_groups, r.resources, r.verbs) for r in stored.rules] == [([""], ["pods"], ["get"])]
    pod = envelope("Pod", "v1", _pb_field(1, _pb_field(1, b"p")))
    status, _, reply = raw_request(
        cluster, "POST", f"/api/v1/namespaces/{ns}/pods", body=pod, headers=headers
    )
    assert status == 415
    assert json.loads(reply)["reason"] == "UnsupportedMediaType"


# ------------------------------------------------------------------------------ the authorizer


def _policy(objects: dict[str, list[dict[str, Any]]]) -> rbac.Policy:
    def lister(resource: str, namespace: str | None) -> list[dict[str, Any]]:
        items = objects.get(resource, [])
        return [o for o in items if namespace is None or o["metadata"].get("namespace") == namespace]

    return rbac.Policy(lister)


SA = rbac.service_account_user("ns", "sa")


@pytest.mark.parametrize(
    ("rule", "attrs", "allowed"),
    [
        ({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}, {"verb": "deletecollection"}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, {"verb": "list"}, False),
        ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["pods"]}, {"api_group": "apps"}, True),
        ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}, {}, False),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, {"subresource": "log"}, False),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, {"subresource": "log"}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, {"subresource": "log"}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}, {"subresource": "exec"}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, {}, False),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            {"name": "a"},
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            {"name": "b"},
            False,
        ),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}, {}, False),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
            {"resource_request": False, "path": "/apis/x"},
            True,
        ),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/apis"]},
            {"resource_request": False, "path": "/apis/x"},
            False,
        ),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis"]}, {}, False),
    ],
)
def test_rule_allows(rule: dict[str, Any], attrs: dict[str, Any], allowed: bool) -> None:
    values: dict[str, Any] = {"verb": "get", "namespace": "ns", "resource": "pods", **attrs}
    assert rbac.rule_allows(rbac.Attributes(SA, **values), rule) is allowed


def test_authorize_bindings() -> None:
    role = {
        "metadata": {"name": "r", "namespace": "ns"},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
    }
    cluster_role = {
        "metadata": {"name": "c"},
        "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}],
    }
    bindings = [
        {"metadata": {"name": "b", "namespace": "ns"}, "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]},
        {"metadata": {"name": "other", "namespace": "other"}, "roleRef": {"kind": "ClusterRole", "name": "c"}, "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]},
    ]  # fmt: skip
    policy = _policy({"roles": [role], "clusterroles": [cluster_role], "rolebindings": bindings})
    get = rbac.authorize(policy, rbac.Attributes(SA, "get", namespace="ns", resource="pods"))
    assert get == rbac.Decision(
        True, 'RBAC: allowed by RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"'
    )
    assert not rbac.authorize(policy, rbac.Attributes(SA, "list", namespace="ns", resource="pods")).allowed
    in_other = rbac.authorize(policy, rbac.Attributes(SA, "list", namespace="other", resource="pods"))
    assert (
        in_other.reason
        == 'RBAC: allowed by RoleBinding "other/other" of ClusterRole "c" to ServiceAccount "sa/ns"'
    )
    stranger = rbac.service_account_user("other", "sa")
    assert not rbac.authorize(
        policy, rbac.Attributes(stranger, "list", namespace="other", resource="pods")
    ).allowed
    admin = rbac.UserInfo("me", (rbac.MASTERS,))
    assert rbac.authorize(policy, rbac.Attributes(admin, "delete", namespace="x", resource="nodes")).allowed


# ------------------------------------------------------------------------------- storage resources


def test_rbac_covers_the_storage_api(
    cluster: LocalCluster,
    core: kubernetes.client.CoreV1Api,
    rbac_api: kubernetes.client.RbacAuthorizationV1Api,
    ns: str,
) -> None:
    """Claims and volumes are core resources, StorageClasses are storage.k8s.io's: RBAC names them so, the
    bootstrap "edit" role grants claims (not the cluster-scoped volumes and classes), and the volume
    controller provisions a claim created by a service account that may not touch PersistentVolumes."""
    core.create_namespaced_service_account(ns, {"metadata": {"name": "claimer"}})
    rbac_api.create_namespaced_role_binding(
        ns, _binding("claimer-edit", "ClusterRole", "edit", [{"kind": "ServiceAccount", "name": "claimer"}])
    )
    user = f"system:serviceaccount:{ns}:claimer"
    client = _client(cluster.service_account_kubeconfig(ns, "claimer"))
    claimer = kubernetes.client.CoreV1Api(client)
    storage = kubernetes.client.StorageV1Api(client)
    claimer.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    pod = pod_manifest("writer", ["true"])
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    claimer.create_namespaced_pod(ns, pod)
    cluster.wait_for_pod(ns, "writer", phase="Succeeded")
    assert claimer.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Bound"
    assert [c.metadata.name for c in claimer.list_namespaced_persistent_volume_claim(ns).items] == ["data"]

    assert _denied(claimer.list_persistent_volume)["message"] == (
        f'persistentvolumes is forbidden: User "{user}" cannot list resource "persistentvolumes" in API group '
        f'"" at the cluster scope'
    )
    status = _denied(storage.list_storage_class)
    assert status["message"] == (
        f'storageclasses.storage.k8s.io is forbidden: User "{user}" cannot list resource "storageclasses" in '
        f'API group "storage.k8s.io" at the cluster scope'
    )
    assert status["details"] == {"group": "storage.k8s.io", "kind": "storageclasses"}

    # A ClusterRole naming the right group opens StorageClasses; the core group does not.
    name = f"sc-reader-{ns}"
    rbac_api.create_cluster_role(
        _role(name, [{"apiGroups": [""], "resources": ["storageclasses"], "verbs": ["list"]}])
    )
    rbac_api.create_cluster_role_binding(
        _binding(name, "ClusterRole", name, [{"kind": "ServiceAccount", "name": "claimer", "namespace": ns}])
    )
    try:
        _denied(storage.list_storage_class)
        rbac_api.patch_cluster_role(
            name,
            {
                "rules": [
                    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["list"]}
                ]
            },
        )
        assert "standard" in [c.metadata.name for c in storage.list_storage_class().items]
    finally:
        rbac_api.delete_cluster_role_binding(name)
        rbac_api.delete_cluster_role(name)


def test_one_registry_serves_every_named_group(cluster: LocalCluster) -> None:
    status, _, body = raw_request(cluster, "GET", "/apis")
    assert status == 200
    groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in json.loads(body)["groups"]}
    assert groups == {
        "authentication.k8s.io": "authentication.k8s.io/v1",
        "authorization.k8s.io": "authorization.k8s.io/v1",
        GROUP: f"{GROUP}/v1",
        "storage.k8s.io": "storage.k8s.io/v1",
    }
    status, _, body = raw_request(cluster, "GET", "/apis/storage.k8s.io/v1")
    assert [(r["name"], r.get("shortNames")) for r in json.loads(body)["resources"]] == [
        ("storageclasses", ["sc"])
    ]
    # Each resource is served by its own group only.
    assert raw_request(cluster, "GET", "/api/v1/storageclasses")[0] == 404
    assert raw_request(cluster, "GET", "/apis/storage.k8s.io/v1/persistentvolumes")[0] == 404
    assert raw_request(cluster, "GET", f"/apis/{GROUP}/v1/persistentvolumeclaims")[0] == 404
    assert raw_request(cluster, "GET", "/apis/storage.k8s.io/v1/clusterroles")[0] == 404
    assert raw_request(cluster, "GET", "/apis/storage.k8s.io/v1/storageclasses")[0] == 200
