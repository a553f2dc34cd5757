"""Kubeconfig parsing, flattening and file inlining (pure, no cluster)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from airflow_provider_k8spod.exceptions import ConnectionConfigError
from airflow_provider_k8spod.hooks import kubeconfig as kc

TWO_CONTEXTS = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "dev",
    "clusters": [
        {"name": "dev-cluster", "cluster": {"server": "https://dev:6443"}},
        {
            "name": "prod-cluster",
            "cluster": {"server": "https://prod:6443", "certificate-authority": "ca.pem"},
        },
    ],
    "users": [
        {"name": "dev-user", "user": {"token": "dev-token-123"}},
        {"name": "prod-user", "user": {"client-certificate": "client.pem", "client-key": "client.key"}},
    ],
    "contexts": [
        {"name": "dev", "context": {"cluster": "dev-cluster", "user": "dev-user", "namespace": "dev-ns"}},
        {"name": "prod", "context": {"cluster": "prod-cluster", "user": "prod-user"}},
    ],
}


def test_flatten_keeps_only_the_current_context():
    flat = kc.flatten(TWO_CONTEXTS, None, origin="test")
    assert flat["current-context"] == "dev"
    assert [c["name"] for c in flat["clusters"]] == ["dev-cluster"]
    assert [u["name"] for u in flat["users"]] == ["dev-user"]
    assert kc.flat_parts(flat)[0]["namespace"] == "dev-ns"


def test_flatten_with_explicit_context():
    flat = kc.flatten(TWO_CONTEXTS, "prod", origin="test")
    assert kc.flat_parts(flat)[1]["server"] == "https://prod:6443"


def test_missing_context_names_origin_field_and_choices():
    with pytest.raises(ConnectionConfigError) as info:
        kc.flatten(TWO_CONTEXTS, "staging", origin="connection 'k', field 'kube_config'")
    assert str(info.value) == (
        "connection 'k', field 'kube_config': context 'staging' (from 'cluster_context') does not exist "
        "in the kubeconfig; contexts: dev, prod"
    )


def test_current_context_that_does_not_exist():
    config = {**TWO_CONTEXTS, "current-context": "gone"}
    with pytest.raises(
        ConnectionConfigError, match="context 'gone' \\(from 'current-context'\\) does not exist"
    ):
        kc.flatten(config, None, origin="o")


def test_context_referring_to_missing_cluster():
    config = {**TWO_CONTEXTS, "contexts": [{"name": "x", "context": {"cluster": "nope", "user": "dev-user"}}]}
    with pytest.raises(ConnectionConfigError, match="context 'x' refers to cluster 'nope', not found"):
        kc.flatten(config, "x", origin="o")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n  - name: a\n  bad", "kubeconfig does not parse at line 2, column 3"),
        ("- just\n- a list\n", "kubeconfig must be a mapping, got list"),
        ("kind: Pod\n", "kubeconfig has kind 'Pod', expected 'Config'"),
        ("clusters: {a: 1}\n", "kubeconfig field 'clusters' must be a list"),
        ("users: [{user: {}}]\n", "kubeconfig users[0] has no name"),
        # YAML pasted into the UI's one-line masked field: its line breaks are gone.
        (
            "apiVersion: v1clusters:- cluster:    server: https://h  name: c",
            "kubeconfig does not parse at line 1, column 33: mapping values are not allowed here (the text is one "
            "line: YAML pasted into a one-line field loses its line breaks; paste JSON)",
        ),
    ],
)
def test_unparsable_kubeconfig_names_origin_and_position(text, message):
    with pytest.raises(ConnectionConfigError) as info:
        kc.parse_kubeconfig(text, origin="connection 'k', field 'kube_config'")
    assert str(info.value).startswith("connection 'k', field 'kube_config': " + message)


def test_parse_error_does_not_echo_the_content():
    with pytest.raises(ConnectionConfigError) as info:
        kc.parse_kubeconfig("users: [{name: u, user: {token: supersecret123}}\n  oops: [", origin="o")
    assert "supersecret123" not in str(info.value)


def test_json_content_is_accepted():
    assert kc.parse_kubeconfig(json.dumps(TWO_CONTEXTS), origin="o")["current-context"] == "dev"


def test_inline_files_resolves_paths_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "ca.pem").write_bytes(b"CA-PEM")
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "config").write_text(yaml.safe_dump(TWO_CONTEXTS))
    config = kc.read_kubeconfig_file(str(tmp_path / "config"))
    flat = kc.inline_files(kc.flatten(config, "prod", origin="o"), base_dir=None, origin="o")
    _, cluster, user = kc.flat_parts(flat)
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA-PEM"
    assert "certificate-authority" not in cluster
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"
    assert "client-key" not in user


def test_token_file_is_inlined(tmp_path):
    (tmp_path / "token").write_text("from-file-token\n")
    config = {**TWO_CONTEXTS, "users": [{"name": "dev-user", "user": {"tokenFile": str(tmp_path / "token")}}]}
    flat = kc.inline_files(kc.flatten(config, None, origin="o"), base_dir=None, origin="o")
    assert kc.flat_parts(flat)[2] == {"token": "from-file-token"}


def test_missing_file_of_the_used_context_names_it(tmp_path):
    (tmp_path / "config").write_text(yaml.safe_dump(TWO_CONTEXTS))
    config = kc.read_kubeconfig_file(str(tmp_path / "config"))
    # Like kubectl: the missing files of another context do not matter ...
    kc.inline_files(kc.flatten(config, "dev", origin="o"), base_dir=None, origin="o")
    # ... those of the context in use do.
    with pytest.raises(ConnectionConfigError, match=r"o: cannot read certificate-authority file '.*/ca.pem'"):
        kc.inline_files(kc.flatten(config, "prod", origin="o"), base_dir=None, origin="o")


def test_missing_kubeconfig_file():
    with pytest.raises(
        ConnectionConfigError, match="kubeconfig file '/nonexistent/config': file does not exist"
    ):
        kc.read_kubeconfig_file("/nonexistent/config")


def test_merge_first_occurrence_wins_like_kubectl():
    a = {"clusters": [{"name": "c", "cluster": {"server": "https://a"}}], "users": [], "contexts": []}
    b = {
        "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://b"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    merged = kc.merge_kubeconfigs([a, b])
    assert merged["clusters"] == [{"name": "c", "cluster": {"server": "https://a"}}]
    assert merged["current-context"] == "x"


def test_kubeconfig_from_host_accepts_pem_or_base64():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    for ca in (pem, base64.b64encode(pem.encode()).decode()):
        flat = kc.kubeconfig_from_host(
            "https://h:6443/", token="t0ken", ca_cert=ca, insecure=False, origin="o"
        )
        _, cluster, user = kc.flat_parts(flat)
        assert cluster["server"] == "https://h:6443"
        assert base64.b64decode(cluster["certificate-authority-data"]).decode() == pem
        assert user == {"token": "t0ken"}


@pytest.mark.parametrize(
    ("host", "ca", "message"),
    [
        ("k8s.example:6443", None, "field 'host': expected an https:// URL, got 'k8s.example:6443'"),
        ("https://h", "not pem!", "field 'ca_cert': expected a PEM certificate or its base64"),
        ("https://h", base64.b64encode(b"hello").decode(), "field 'ca_cert': no PEM certificate found"),
    ],
)
def test_kubeconfig_from_host_bad_input(host, ca, message):
    with pytest.raises(ConnectionConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        kc.kubeconfig_from_host(host, token=None, ca_cert=ca, insecure=False, origin="connection 'ui'")


def test_secret_values_lists_tokens_keys_and_oidc_secrets():
    config = {
        "users": [
            {"name": "a", "user": {"token": "tok-aaaaa", "client-key-data": "KEYDATA"}},
            {
                "name": "b",
                "user": {
                    "auth-provider": {
                        "name": "oidc",
                        "config": {"refresh-token": "rt-bbbbb", "client-secret": "cs-ccccc"},
                    },
                    "exec": {
                        "env": [
                            {"name": "AWS_SECRET_ACCESS_KEY", "value": "aws-ddddd"},
                            {"name": "AWS_PROFILE", "value": "prod"},
                        ]
                    },
                },
            },
        ]
    }
    assert sorted(kc.secret_values(config)) == ["KEYDATA", "aws-ddddd", "cs-ccccc", "rt-bbbbb", "tok-aaaaa"]
