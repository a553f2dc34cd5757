"""Connection extras -> ConnectionSettings: every accepted form, and every bad input's message."""

from __future__ import annotations

import warnings

import pytest

from airflow_provider_k8spod.exceptions import ConnectionConfigError
from airflow_provider_k8spod.hooks.connection import EXTRA_FIELDS, settings_from_connection_fields


@pytest.mark.parametrize(
    ("extra", "attribute", "expected"),
    [
        ({"in_cluster": True}, "in_cluster", True),
        ({"in_cluster": "true"}, "in_cluster", True),
        ({"in_cluster": "False"}, "in_cluster", False),
        ({"extra__kubernetes__in_cluster": True}, "in_cluster", True),
        ({"extra__k8spod__namespace": "team-a"}, "namespace", "team-a"),
        ({"kube_config_path": "/etc/kube/config"}, "kube_config_path", "/etc/kube/config"),
        ({"extra__kubernetes__kube_config_path": "/k"}, "kube_config_path", "/k"),
        ({"kube_config": "apiVersion: v1\nkind: Config\n"}, "kube_config", "apiVersion: v1\nkind: Config\n"),
        ({"kube_config": {"kind": "Config"}}, "kube_config", '{"kind": "Config"}'),
        ({"cluster_context": "prod"}, "cluster_context", "prod"),
        ({"disable_verify_ssl": "true"}, "disable_verify_ssl", True),
        ({"disable_tcp_keepalive": True}, "disable_tcp_keepalive", True),
        (
            {"xcom_sidecar_container_image": "reg.example/alpine:3"},
            "xcom_sidecar_container_image",
            "reg.example/alpine:3",
        ),
        (
            {"xcom_sidecar_container_resources": '{"requests": {"cpu": "5m"}}'},
            "xcom_sidecar_container_resources",
            {"requests": {"cpu": "5m"}},
        ),
        (
            {"extra__kubernetes__xcom_sidecar_container_resources": {"limits": {"memory": "20Mi"}}},
            "xcom_sidecar_container_resources",
            {"limits": {"memory": "20Mi"}},
        ),
        (
            {"xcom_sidecar_container_security_context": '{"runAsUser": 1000}'},
            "xcom_sidecar_container_security_context",
            {"runAsUser": 1000},
        ),
        # Empty values mean "not set", as in the upstream hook.
        ({"namespace": ""}, "namespace", None),
        ({"in_cluster": ""}, "in_cluster", None),
    ],
)
def test_extras_are_read_with_or_without_legacy_prefix(extra, attribute, expected):
    settings = settings_from_connection_fields("kubernetes_default", extra=extra)
    assert getattr(settings, attribute) == expected


def test_unprefixed_extra_wins_over_legacy_duplicate():
    settings = settings_from_connection_fields(
        "c", extra={"extra__kubernetes__namespace": "old", "namespace": "new"}
    )
    assert settings.namespace == "new"


def test_host_token_and_ca_form():
    settings = settings_from_connection_fields(
        "ui_conn", host="https://k8s.example:6443", password="s3cret-token", extra={"ca_cert": "PEM"}
    )
    assert (settings.host, settings.token, settings.ca_cert) == (
        "https://k8s.example:6443",
        "s3cret-token",
        "PEM",
    )
    assert "s3cret-token" not in repr(settings)


def test_repr_hides_kubeconfig_content():
    settings = settings_from_connection_fields(
        "c", extra={"kube_config": "users: [{user: {token: abc123xyz}}]"}
    )
    assert "abc123xyz" not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "fields", "message"),
    [
        (
            {"in_cluster": "perhaps"},
            {},
            "connection 'my_k8s', field 'in_cluster': expected true or false, got 'perhaps'",
        ),
        (
            {"xcom_sidecar_container_resources": "{cpu: 1"},
            {},
            "connection 'my_k8s', field 'xcom_sidecar_container_resources': not valid JSON",
        ),
        (
            {"xcom_sidecar_container_resources": "[1, 2]"},
            {},
            "field 'xcom_sidecar_container_resources': expected a JSON object",
        ),
        ({"namespace": 7}, {}, "connection 'my_k8s', field 'namespace': expected a string, got int"),
        (
            {"kube_conifg": "x"},
            {},
            "connection 'my_k8s': unknown extra field 'kube_conifg'; did you mean 'kube_config'?",
        ),
        ({"kubeconfig": "x"}, {}, "unknown extra field 'kubeconfig'; did you mean 'kube_config'?"),
        (
            {"extra__kubernetes__namespaces": "x"},
            {},
            "unknown extra field 'extra__kubernetes__namespaces'; did you mean 'namespace'?",
        ),
        ({"extra__kubernetes__whatever": "x"}, {}, "unknown extra field 'extra__kubernetes__whatever'"),
        (
            {"in_cluster": True, "kube_config_path": "/k"},
            {},
            "fields 'in_cluster', 'kube_config_path' each select a cluster; set only one of them",
        ),
        ({"kube_config": "x"}, {"host": "https://h"}, "fields 'kube_config', 'host' each select a cluster"),
        ({}, {"password": "tok"}, "field 'password': a bearer token needs the API server URL in 'host'"),
        ({"ca_cert": "PEM"}, {}, "field 'ca_cert': a CA certificate needs the API server URL in 'host'"),
    ],
)
def test_bad_connection_input_names_connection_and_field(extra, fields, message):
    with pytest.raises(ConnectionConfigError) as info:
        settings_from_connection_fields("my_k8s", extra=extra, **fields)
    assert message in str(info.value)


def test_unknown_extra_far_from_any_field_is_a_warning_naming_the_closest_field():
    with pytest.warns(
        UserWarning,
        match=r"ignoring unknown extra field 'xcom_sidecar_image' \(closest known field: 'xcom_sidecar_container_image'\)",
    ):
        settings = settings_from_connection_fields("c", extra={"xcom_sidecar_image": "x", "namespace": "n"})
    assert settings.ignored_extras == ("xcom_sidecar_image",)
    assert settings.namespace == "n"


def test_unrelated_extra_is_warned_without_a_suggestion():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings_from_connection_fields("c", extra={"team_owner": "data-eng"})
    assert [str(w.message) for w in caught] == [
        "Connection 'c': ignoring unknown extra field 'team_owner'. Known fields: "
        + ", ".join(sorted(EXTRA_FIELDS))
    ]
