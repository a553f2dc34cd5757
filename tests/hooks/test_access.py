"""Connection + overrides -> ClusterAccess: precedence, serialization, secrets (no cluster needed)."""

from __future__ import annotations

import json

import pytest
import yaml

from airflow_provider_k8spod.exceptions import ConnectionConfigError
from airflow_provider_k8spod.hooks import access as access_module
from airflow_provider_k8spod.hooks.access import ClusterAccess, resolve_cluster_access
from airflow_provider_k8spod.hooks.connection import ConnectionSettings


def kubeconfig(
    server: str, *, token: str = "tok-12345", contexts: tuple[str, ...] = ("main",), namespace=None
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": contexts[0],
        "clusters": [{"name": f"c-{c}", "cluster": {"server": f"{server}/{c}"}} for c in contexts],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [
            {
                "name": c,
                "context": {
                    "cluster": f"c-{c}",
                    "user": "u",
                    **({"namespace": namespace} if namespace else {}),
                },
            }
            for c in contexts
        ],
    }


@pytest.fixture
def no_default_kubeconfig(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(tmp_path, name, config) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_kube_config_content_with_context(no_default_kubeconfig):
    settings = ConnectionSettings(
        conn_id="k",
        kube_config=json.dumps(kubeconfig("https://a", contexts=("one", "two"))),
        cluster_context="two",
    )
    access = resolve_cluster_access(settings)
    assert (access.server, access.context) == ("https://a/two", "two")


def test_operator_overrides_win_over_connection(tmp_path, no_default_kubeconfig):
    settings = ConnectionSettings(
        conn_id="k",
        kube_config_path=write(tmp_path, "conn", kubeconfig("https://conn", contexts=("x", "y"))),
        cluster_context="x",
    )
    assert resolve_cluster_access(settings).server == "https://conn/x"
    assert resolve_cluster_access(settings, cluster_context="y").server == "https://conn/y"
    other = write(tmp_path, "op", kubeconfig("https://operator", contexts=("y",)))
    assert (
        resolve_cluster_access(settings, config_file=other, cluster_context="y").server
        == "https://operator/y"
    )
    assert resolve_cluster_access(settings, in_cluster=True).in_cluster


def test_in_cluster_false_override_ignores_connection_in_cluster(
    tmp_path, monkeypatch, no_default_kubeconfig
):
    monkeypatch.setenv("KUBECONFIG", write(tmp_path, "kc", kubeconfig("https://local")))
    settings = ConnectionSettings(conn_id="k", in_cluster=True)
    assert resolve_cluster_access(settings).in_cluster
    assert resolve_cluster_access(settings, in_cluster=False).server == "https://local/main"


def test_no_connection_uses_kubeconfig_env_list_first_wins(tmp_path, monkeypatch, no_default_kubeconfig):
    first = write(tmp_path, "a", kubeconfig("https://first"))
    second = write(tmp_path, "b", kubeconfig("https://second"))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}:{second}")
    assert resolve_cluster_access(ConnectionSettings()).server == "https://first/main"


def test_no_connection_in_a_pod_is_in_cluster(tmp_path, monkeypatch, no_default_kubeconfig):
    (tmp_path / "token").write_text("sa-token")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert resolve_cluster_access(ConnectionSettings(), sa_dir=str(tmp_path)).in_cluster


def test_nothing_configured_is_a_clear_error(no_default_kubeconfig):
    with pytest.raises(
        ConnectionConfigError, match=r"connection 'kubernetes_default': no cluster configured"
    ):
        resolve_cluster_access(ConnectionSettings(conn_id="kubernetes_default"))


def test_missing_context_is_reported_before_any_api_call(no_default_kubeconfig):
    settings = ConnectionSettings(conn_id="prod_k8s", kube_config=json.dumps(kubeconfig("https://a")))
    with pytest.raises(ConnectionConfigError) as info:
        resolve_cluster_access(settings, cluster_context="nope")
    assert str(info.value).startswith("connection 'prod_k8s', field 'kube_config': context 'nope'")


def test_unparsable_kube_config_names_connection_and_field(no_default_kubeconfig):
    settings = ConnectionSettings(conn_id="prod_k8s", kube_config="clusters: [oops")
    with pytest.raises(
        ConnectionConfigError, match=r"^connection 'prod_k8s', field 'kube_config': kubeconfig does not parse"
    ):
        resolve_cluster_access(settings)


def test_unsupported_auth_provider(no_default_kubeconfig):
    config = kubeconfig("https://a")
    config["users"][0]["user"] = {"auth-provider": {"name": "gcp", "config": {}}}
    with pytest.raises(
        ConnectionConfigError, match="auth-provider 'gcp' is not supported; use an exec credential plugin"
    ):
        resolve_cluster_access(ConnectionSettings(conn_id="g", kube_config=json.dumps(config)))


def test_namespace_from_connection_else_context(no_default_kubeconfig):
    content = json.dumps(kubeconfig("https://a", namespace="ctx-ns"))
    assert resolve_cluster_access(ConnectionSettings(kube_config=content)).namespace == "ctx-ns"
    assert (
        resolve_cluster_access(ConnectionSettings(kube_config=content, namespace="conn-ns")).namespace
        == "conn-ns"
    )


def test_disable_verify_ssl(no_default_kubeconfig):
    content = json.dumps(kubeconfig("https://a"))
    access = resolve_cluster_access(ConnectionSettings(kube_config=content, disable_verify_ssl=True))
    assert not access.verify_tls
    assert access.kubeconfig["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True


def _insecure_kubeconfig() -> str:
    config = kubeconfig("https://a")
    config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    return json.dumps(config)


@pytest.mark.parametrize(
    ("settings", "overrides", "why"),
    [
        (ConnectionSettings(conn_id="c", kube_config=json.dumps(kubeconfig("https://a"))), {}, None),
        (
            ConnectionSettings(
                conn_id="c", kube_config=json.dumps(kubeconfig("https://a")), disable_verify_ssl=True
            ),
            {},
            "is off for connection 'c' (disable_verify_ssl)",
        ),
        (
            ConnectionSettings(conn_id="c", kube_config=json.dumps(kubeconfig("https://a"))),
            {"disable_verify_ssl": True},
            "is off for connection 'c' (disable_verify_ssl)",
        ),
        (
            ConnectionSettings(conn_id="c", host="https://a", token="t", disable_verify_ssl=True),
            {},
            "is off for connection 'c' (disable_verify_ssl)",
        ),
        (
            ConnectionSettings(conn_id="c", kube_config=_insecure_kubeconfig()),
            {},
            "is off for connection 'c' (insecure-skip-tls-verify in its kubeconfig)",
        ),
        (ConnectionSettings(conn_id="c", in_cluster=True), {}, None),
        (
            ConnectionSettings(conn_id="c", in_cluster=True, disable_verify_ssl=True),
            {},
            "TLS verification of the API server (in-cluster) is off for connection 'c' (disable_verify_ssl)",
        ),
    ],
)
def test_unverified_tls_is_warned_about(no_default_kubeconfig, caplog, settings, overrides, why):
    with caplog.at_level("WARNING", logger="airflow_provider_k8spod.hooks.access"):
        access = resolve_cluster_access(settings, **overrides)
    warnings = [r.getMessage() for r in caplog.records if "TLS verification" in r.getMessage()]
    assert access.verifies_tls is (why is None)
    if why is None:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert why in warnings[0]
        assert "Give the connection the cluster's CA certificate (extra 'ca_cert') instead" in warnings[0]


def test_serialization_round_trip_carries_no_local_paths(tmp_path, no_default_kubeconfig):
    (tmp_path / "ca.pem").write_text("CA")
    config = kubeconfig("https://a")
    config["clusters"][0]["cluster"]["certificate-authority"] = "ca.pem"
    access = resolve_cluster_access(ConnectionSettings(kube_config_path=write(tmp_path, "kc", config)))
    data = json.loads(json.dumps(access.serialize()))
    assert str(tmp_path) not in json.dumps(data)
    restored = ClusterAccess.deserialize(data)
    assert restored == access
    assert restored.key == access.key


def test_repr_never_shows_secrets(no_default_kubeconfig):
    access = resolve_cluster_access(
        ConnectionSettings(kube_config=json.dumps(kubeconfig("https://a", token="tok-SECRET-1")))
    )
    assert "tok-SECRET-1" not in repr(access)
    assert "tok-SECRET-1" not in str(access)
    assert "tok-SECRET-1" in access.secret_values()


def test_host_and_token_connection(no_default_kubeconfig):
    settings = ConnectionSettings(conn_id="ui", host="https://api.example:6443", token="tok-ui-777")
    access = resolve_cluster_access(settings)
    assert access.server == "https://api.example:6443"
    with pytest.raises(
        ConnectionConfigError, match="'cluster_context' 'x' cannot apply to a connection given by host"
    ):
        resolve_cluster_access(settings, cluster_context="x")


def test_cluster_access_requires_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        ClusterAccess()
    assert access_module.SERVICE_ACCOUNT_DIR == "/var/run/secrets/kubernetes.io/serviceaccount"
