from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_provider_k8spod.testing.node.envvars import (
    ConfigError,
    EnvSources,
    container_env,
    expand,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)z", "x1y2z"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("cost: 5$", "cost: 5$"),
        ("", ""),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1), ("500m", 0.5), ("1Ki", 1024), ("1Gi", 2**30), ("2k", 2000), ("1e3", 1000)]
)
def test_quantities(text: str, value: float) -> None:
    assert float(parse_quantity(text)) == value


POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
    "spec": {"nodeName": "node-1", "serviceAccountName": "default"},
    "status": {"podIP": "127.0.0.1", "hostIP": "127.0.0.1"},
}
CONFIGMAPS = {"cfg": {"data": {"KEY": "v", "bad key": "x"}}}
SECRETS = {"sec": {"data": {"PASSWORD": base64.b64encode(b"s3cret").decode()}}}


def _sources() -> EnvSources:
    return EnvSources(
        pod=POD,
        configmaps=CONFIGMAPS.get,
        secrets=SECRETS.get,
        node_allocatable={"cpu": "2", "memory": "8Gi"},
        service_env={"KUBERNETES_SERVICE_HOST": "127.0.0.1"},
    )


def test_env_sources() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
        "env": [
            {"name": "PLAIN", "value": "x-$(CM_KEY)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "KEY"}}},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        ],
    }
    env = container_env(_sources(), container)
    assert env["CM_KEY"] == "v"
    assert "CM_bad key" not in env
    assert env["PASSWORD"] == "s3cret"
    assert env["PLAIN"] == "x-v"
    assert (env["POD"], env["NS"], env["APP"], env["IP"]) == ("p", "ns", "web", "127.0.0.1")
    assert env["FROM_CM"] == "v"
    assert env["FROM_SECRET"] == "s3cret"
    assert env["CPU"] == "2"
    assert "OPT" not in env
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("var", "message"),
    [
        (
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}},
            'configmap "nope" not found',
        ),
        (
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}},
            'secret "nope" not found',
        ),
        (
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey"}}},
            "couldn't find key nokey in ConfigMap ns/cfg",
        ),
        (
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nokey"}}},
            "couldn't find key nokey in Secret ns/sec",
        ),
    ],
)
def test_missing_references(var: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        container_env(_sources(), {"env": [var]})


def test_missing_env_from() -> None:
    with pytest.raises(ConfigError, match='configmap "nope" not found'):
        container_env(_sources(), {"envFrom": [{"configMapRef": {"name": "nope"}}]})
    assert container_env(_sources(), {"envFrom": [{"configMapRef": {"name": "nope", "optional": True}}]})
