"""Both hooks against the local cluster over real HTTPS: every connection form, every pod operation,
the retry policy under injected faults, and the shared async client."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import textwrap
import time

import pytest
import responses
import yaml

from airflow_provider_k8spod.exceptions import (
    AlreadyExistsError,
    ApiUnavailableError,
    ConnectionConfigError,
    ExecError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TLSVerificationError,
    UnauthorizedError,
)
from airflow_provider_k8spod.hooks import access as access_module
from airflow_provider_k8spod.hooks.access import close_async_clients
from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
from airflow_provider_k8spod.hooks.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=4, deadline=20.0, base_delay=0.05, max_delay=0.2)


def pod_manifest(name: str, command: str = "echo ready; sleep 30", **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "base", "image": "busybox:1.36", "command": ["sh", "-c", command]}],
        },
    }


def cluster_kubeconfig(cluster) -> dict:
    with open(cluster.kubeconfig_path) as f:
        return yaml.safe_load(f)


def set_connection(monkeypatch, conn: dict) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))


def run(coro):
    async def wrapper():
        try:
            return await coro
        finally:
            await close_async_clients()

    return asyncio.run(wrapper())


def assert_both_hooks_work(**hook_kwargs) -> None:
    sync = KubernetesHook(**hook_kwargs)
    assert isinstance(sync.list_pods("default"), list)
    ok, message = sync.test_connection()
    assert ok, message
    # The hook's client is a real kubernetes client, usable for anything else.
    assert sync.core_v1_client.list_namespaced_pod("default").kind == "PodList"

    async def check_async():
        hook = AsyncKubernetesHook(**hook_kwargs)
        assert isinstance(await hook.list_pods("default"), list)
        from kubernetes_asyncio.client import CoreV1Api

        listed = await CoreV1Api(await hook.get_api_client()).list_namespaced_pod("default")
        assert listed.kind == "PodList"

    run(check_async())


# -- every supported connection form, given as AIRFLOW_CONN_KUBERNETES_DEFAULT (JSON) -------------------


def test_form_kube_config_path(local_cluster, monkeypatch):
    set_connection(
        monkeypatch, {"conn_type": "k8spod", "extra": {"kube_config_path": local_cluster.kubeconfig_path}}
    )
    assert_both_hooks_work()


@pytest.mark.parametrize("encoding", ["yaml", "json", "object"])
def test_form_kube_config_content(local_cluster, monkeypatch, encoding):
    config = cluster_kubeconfig(local_cluster)
    content = {"yaml": yaml.safe_dump(config), "json": json.dumps(config), "object": config}[encoding]
    set_connection(monkeypatch, {"conn_type": "k8spod", "extra": {"kube_config": content}})
    assert_both_hooks_work()


def test_form_upstream_kubernetes_connection_with_legacy_prefix(local_cluster, monkeypatch):
    set_connection(
        monkeypatch,
        {
            "conn_type": "kubernetes",
            "extra": {
                "extra__kubernetes__kube_config_path": local_cluster.kubeconfig_path,
                "extra__kubernetes__namespace": "default",
            },
        },
    )
    assert_both_hooks_work()


def test_form_context_selected_from_a_multi_context_kubeconfig(local_cluster, monkeypatch):
    config = cluster_kubeconfig(local_cluster)
    config["clusters"].append({"name": "elsewhere", "cluster": {"server": "https://192.0.2.1:6443"}})
    config["contexts"].append(
        {"name": "elsewhere", "context": {"cluster": "elsewhere", "user": config["users"][0]["name"]}}
    )
    local_context = config["current-context"]
    config["current-context"] = "elsewhere"
    set_connection(
        monkeypatch,
        {
            "conn_type": "k8spod",
            "extra": {"kube_config": json.dumps(config), "cluster_context": local_context},
        },
    )
    assert_both_hooks_work()


def test_form_host_token_and_ca_without_kubeconfig(local_cluster, monkeypatch):
    config = cluster_kubeconfig(local_cluster)
    cluster = config["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    set_connection(
        monkeypatch,
        {
            "conn_type": "k8spod",
            "host": cluster["server"],
            "password": local_cluster.token,
            "extra": {"ca_cert": ca_pem},
        },
    )
    assert_both_hooks_work()


def test_form_in_cluster(local_cluster, monkeypatch, tmp_path):
    config = cluster_kubeconfig(local_cluster)
    server = config["clusters"][0]["cluster"]["server"]
    (tmp_path / "token").write_text(local_cluster.token)
    (tmp_path / "ca.crt").write_bytes(
        base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    )
    host, port = server.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setattr(access_module, "SERVICE_ACCOUNT_DIR", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    set_connection(monkeypatch, {"conn_type": "k8spod", "extra": {"in_cluster": True}})
    assert_both_hooks_work()


def test_form_no_connection_uses_kubeconfig_env(local_cluster, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", local_cluster.kubeconfig_path)
    assert_both_hooks_work()
    assert_both_hooks_work(conn_id=None)


def test_form_exec_plugin(local_cluster, monkeypatch, tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        textwrap.dedent(
            f"""
            import json
            print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                              "status": {{"token": {local_cluster.token!r}}}}}))
            """
        )
    )
    config = cluster_kubeconfig(local_cluster)
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    set_connection(monkeypatch, {"conn_type": "k8spod", "extra": {"kube_config": json.dumps(config)}})
    assert_both_hooks_work()


def test_form_oidc_refresh_token(local_cluster, monkeypatch):
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    expired = f"{part({'alg': 'none'})}.{part({'exp': int(time.time()) - 60})}.sig"
    issuer = "https://idp.example.test"
    config = cluster_kubeconfig(local_cluster)
    config["users"][0]["user"] = {
        "auth-provider": {
            "name": "oidc",
            "config": {
                "client-id": "airflow",
                "client-secret": "s3cr3t",
                "id-token": expired,
                "refresh-token": "refresh-1",
                "idp-issuer-url": issuer,
            },
        }
    }
    set_connection(monkeypatch, {"conn_type": "k8spod", "extra": {"kube_config": json.dumps(config)}})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as idp:
        idp.get(f"{issuer}/.well-known/openid-configuration", json={"token_endpoint": f"{issuer}/token"})
        token = idp.post(
            f"{issuer}/token", json={"id_token": local_cluster.token, "refresh_token": "refresh-2"}
        )
        assert_both_hooks_work()
    # Sync and async each refreshed their own copy: the expired token was never sent to the API server.
    assert token.call_count >= 1


def test_operator_level_overrides_win(local_cluster, monkeypatch, tmp_path):
    broken = tmp_path / "broken"
    broken.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
    )
    set_connection(monkeypatch, {"conn_type": "k8spod", "extra": {"kube_config_path": str(broken)}})
    with pytest.raises(ConnectionConfigError, match="no current-context"):
        KubernetesHook().list_pods("default")
    assert_both_hooks_work(config_file=local_cluster.kubeconfig_path)


def test_missing_connection_id_is_an_error_naming_it():
    with pytest.raises(ConnectionConfigError, match="connection 'no_such_conn' is not defined"):
        KubernetesHook("no_such_conn").list_pods("default")


# -- pod operations, sync and async ---------------------------------------------------------------------


def test_sync_pod_operations(local_cluster_connection):
    cluster = local_cluster_connection
    hook = KubernetesHook()
    created = hook.create_pod(pod_manifest("ops-sync", "echo one; echo two; sleep 30", team="data"))
    assert created["metadata"]["uid"]
    with pytest.raises(
        AlreadyExistsError, match='create pod "ops-sync" in namespace "default": 409 AlreadyExists'
    ):
        hook.create_pod(pod_manifest("ops-sync"))
    listed = hook.list_pods("default", label_selector="team=data")
    assert [p["metadata"]["name"] for p in listed] == ["ops-sync"]
    running = None
    for event in hook.watch_pods(
        "default",
        resource_version=created["metadata"]["resourceVersion"],
        field_selector="metadata.name=ops-sync",
        timeout_seconds=10,
    ):
        if event.object.get("status", {}).get("phase") == "Running":
            running = event
            break
    assert running is not None
    cluster.wait_for_pod(
        "default",
        "ops-sync",
        condition=lambda p: (
            b"two" in b"".join(KubernetesHook().read_pod_logs("ops-sync", "default", container="base"))
        ),
    )
    lines = (
        b"".join(hook.read_pod_logs("ops-sync", "default", container="base", timestamps=True))
        .decode()
        .splitlines()
    )
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two"]
    second_ts = lines[1].split(" ", 1)[0]
    since = b"".join(
        hook.read_pod_logs("ops-sync", "default", container="base", since_time=second_ts)
    ).decode()
    # the API server passes sinceTime on in whole seconds: the lines of that second come back too
    second = second_ts.split(".")[0]
    assert since == "".join(line.split(" ", 1)[1] + "\n" for line in lines if line.split(".")[0] >= second)
    assert since.endswith("two\n")
    result = hook.exec_in_pod(
        "ops-sync", "default", ["sh", "-c", "echo out; echo err >&2; exit 3"], container="base"
    )
    assert (result.stdout, result.stderr, result.exit_code) == (b"out\n", b"err\n", 3)
    with pytest.raises(ExecError, match="larger than the limit of 1000 bytes"):
        hook.exec_in_pod(
            "ops-sync", "default", ["sh", "-c", "head -c 5000 /dev/zero"], container="base", max_stdout=1000
        )
    big = hook.exec_in_pod("ops-sync", "default", ["sh", "-c", "head -c 200000 /dev/zero"], container="base")
    assert len(big.stdout) == 200000
    reasons = [e["reason"] for e in hook.list_pod_events("ops-sync", "default")]
    assert {"Scheduled", "Started"} <= set(reasons)
    patched = hook.patch_pod_metadata("ops-sync", "default", labels={"checked": "yes"})
    assert patched["metadata"]["labels"]["checked"] == "yes"
    deleted = hook.delete_pod("ops-sync", "default", grace_period_seconds=0)
    assert deleted is not None
    cluster.wait_for_pod("default", "ops-sync", gone=True)
    assert hook.delete_pod("ops-sync", "default") is None
    with pytest.raises(
        NotFoundError,
        match='get pod "ops-sync" in namespace "default": 404 NotFound: pods "ops-sync" not found',
    ):
        hook.get_pod("ops-sync", "default")


def test_async_pod_operations(local_cluster_connection):
    cluster = local_cluster_connection

    async def scenario():
        hook = AsyncKubernetesHook()
        created = await hook.create_pod(pod_manifest("ops-async", "echo é-ü; sleep 30", team="ml"))
        listed = await hook.list_pods("default", label_selector="team=ml")
        assert [p["metadata"]["name"] for p in listed] == ["ops-async"]
        async for event in hook.watch_pods(
            "default",
            resource_version=created["metadata"]["resourceVersion"],
            field_selector="metadata.name=ops-async",
            timeout_seconds=10,
        ):
            if event.object.get("status", {}).get("phase") == "Running":
                break
        else:
            pytest.fail("the watch ended before the pod ran")
        for _ in range(100):
            chunks = [c async for c in hook.read_pod_logs("ops-async", "default", container="base")]
            if chunks:
                break
            await asyncio.sleep(0.05)
        assert b"".join(chunks).decode() == "é-ü\n"
        result = await hook.exec_in_pod(
            "ops-async", "default", ["sh", "-c", "printf x; exit 0"], container="base"
        )
        assert (result.stdout, result.exit_code) == (b"x", 0)
        with pytest.raises(ExecError):
            await hook.exec_in_pod(
                "ops-async",
                "default",
                ["sh", "-c", "head -c 5000 /dev/zero"],
                container="base",
                max_stdout=100,
            )
        events = await hook.list_pod_events("ops-async", "default", uid=created["metadata"]["uid"])
        assert "Started" in [e["reason"] for e in events]
        assert await hook.delete_pod("ops-async", "default", grace_period_seconds=0) is not None
        for _ in range(200):
            try:
                await hook.get_pod("ops-async", "default")
            except NotFoundError:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the pod was not deleted")

    run(scenario())
    assert cluster.pods("default") == []


def test_watch_from_a_compacted_resource_version_raises_expired(local_cluster_connection):
    hook = KubernetesHook()
    old = hook.list_pods("default").resource_version
    hook.create_pod(pod_manifest("w1"))
    local_cluster_connection.faults.compact("pods")
    with pytest.raises(ExpiredError, match="410"):
        list(hook.watch_pods("default", resource_version=old, timeout_seconds=5))


# -- the retry policy under injected faults -------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 0.2), (500, None), (503, None), (502, None), (504, None)]
)
def test_transient_errors_are_retried_then_succeed(local_cluster_connection, flavour, status, retry_after):
    cluster = local_cluster_connection
    KubernetesHook().create_pod(pod_manifest("retry-me"))
    cluster.reset_stats()
    cluster.faults.fail("get", "pods", status=status, times=2, retry_after=retry_after)
    if flavour == "sync":
        pod = KubernetesHook(retry_policy=FAST).get_pod("retry-me", "default")
    else:
        pod = run(AsyncKubernetesHook(retry_policy=FAST).get_pod("retry-me", "default"))
    assert pod["metadata"]["name"] == "retry-me"
    assert cluster.stats()["get pods"] == 3


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_persistent_unavailability_gives_up_with_attempt_count(local_cluster_connection, flavour):
    cluster = local_cluster_connection
    cluster.faults.fail("list", "pods", status=503, times=None)
    call = (
        (lambda: KubernetesHook(retry_policy=FAST).list_pods("default"))
        if flavour == "sync"
        else (lambda: run(AsyncKubernetesHook(retry_policy=FAST).list_pods("default")))
    )
    with pytest.raises(
        ApiUnavailableError,
        match=r"list pods in namespace \"default\": 503 ServiceUnavailable.*gave up after 4 attempts",
    ):
        call()
    assert cluster.stats()["list pods"] == 4


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_client_errors_raise_at_once(local_cluster_connection, flavour):
    cluster = local_cluster_connection

    def call(method, *args, **kwargs):
        if flavour == "sync":
            return getattr(KubernetesHook(retry_policy=FAST), method)(*args, **kwargs)
        return run(getattr(AsyncKubernetesHook(retry_policy=FAST), method)(*args, **kwargs))

    call("create_pod", pod_manifest("exists"))
    cluster.reset_stats()
    with pytest.raises(NotFoundError, match='pods "missing" not found'):
        call("get_pod", "missing", "default")
    with pytest.raises(AlreadyExistsError):
        call("create_pod", pod_manifest("exists"))
    bad = pod_manifest("Not_A_Valid_Name")
    with pytest.raises(
        InvalidError,
        match='create pod "Not_A_Valid_Name" in namespace "default": 422 Invalid: Pod "Not_A_Valid_Name" is invalid',
    ):
        call("create_pod", bad)
    cluster.forbid("get", "pods")
    with pytest.raises(ForbiddenError, match=r"403 Forbidden.*needs RBAC verb 'get' on 'pods'"):
        call("get_pod", "exists", "default")
    stats = cluster.stats()
    assert (stats["get pods"], stats["create pods"]) == (2, 2)  # one request each: nothing retried


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connection_reset_is_retried(local_cluster_connection, flavour):
    cluster = local_cluster_connection
    KubernetesHook().create_pod(pod_manifest("reset-me"))
    cluster.faults.reset_stream("pods", verb="get", after_bytes=0, times=1)
    if flavour == "sync":
        pod = KubernetesHook(retry_policy=FAST).get_pod("reset-me", "default")
    else:
        pod = run(AsyncKubernetesHook(retry_policy=FAST).get_pod("reset-me", "default"))
    assert pod["metadata"]["name"] == "reset-me"


def host_connection(cluster, *, token: str, ca: bool, **extra) -> dict:
    server = cluster_kubeconfig(cluster)["clusters"][0]["cluster"]
    if ca:
        extra["ca_cert"] = base64.b64decode(server["certificate-authority-data"]).decode()
    return {"conn_type": "k8spod", "host": server["server"], "password": token, "extra": extra}


def call_hook(flavour: str, method: str, *args, **kwargs):
    policy = RetryPolicy(max_attempts=6, deadline=30.0, base_delay=0.05, max_delay=0.2)
    if flavour == "sync":
        return getattr(KubernetesHook("my_cluster", retry_policy=policy), method)(*args, **kwargs)
    return run(getattr(AsyncKubernetesHook("my_cluster", retry_policy=policy), method)(*args, **kwargs))


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("method", "args"),
    [("list_pods", ("default",)), ("exec_in_pod", ("some-pod", "default", ["true"]))],
)
def test_a_certificate_that_cannot_be_verified_fails_at_once_with_a_hint(
    local_cluster, monkeypatch, caplog, flavour, method, args
):
    # No ca_cert: the cluster's self-signed CA is not trusted.
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_CLUSTER",
        json.dumps(host_connection(local_cluster, token=local_cluster.token, ca=False)),
    )
    with pytest.raises(TLSVerificationError) as caught:
        call_hook(flavour, method, *args)
    message = str(caught.value)
    assert "the API server's TLS certificate could not be verified (" in message
    assert "certificate" in message.split("verified (", 1)[1]  # the TLS library's reason
    assert "Give connection 'my_cluster' the cluster's CA certificate (extra 'ca_cert'" in message
    assert "set its extra 'disable_verify_ssl' to true" in message
    assert not isinstance(caught.value, ApiUnavailableError)
    assert "retrying" not in caplog.text  # one attempt: no retry can fix a certificate
    assert "cannot reach the API server" not in message


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("method", "args"),
    [("list_pods", ("default",)), ("exec_in_pod", ("some-pod", "default", ["true"]))],
)
def test_unauthorized_names_the_connection(local_cluster, monkeypatch, flavour, method, args):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_CLUSTER", json.dumps(host_connection(local_cluster, token="wrong-token", ca=True))
    )
    with pytest.raises(UnauthorizedError) as caught:
        call_hook(flavour, method, *args)
    assert "401 Unauthorized" in str(caught.value)
    assert "the credentials of connection 'my_cluster' were not accepted" in str(caught.value)


# -- one long-lived async client per ClusterAccess and event loop --------------------------------------


def test_async_hooks_share_one_client_per_access_and_loop(local_cluster_connection):
    async def scenario():
        hooks = [AsyncKubernetesHook() for _ in range(20)]
        clients = {id(await h.get_api_client()) for h in hooks}
        await asyncio.gather(*(h.list_pods("default") for h in hooks))
        assert len(clients) == 1
        access = await hooks[0].get_cluster_access()
        # Another event loop gets its own client: aiohttp sessions belong to one loop.
        other = await asyncio.to_thread(lambda: asyncio.run(_client_id(access)))
        assert other not in clients

    run(scenario())


async def _client_id(access) -> int:
    try:
        return id(await access.async_client())
    finally:
        await close_async_clients()
