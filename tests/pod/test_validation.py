"""Quantities, name rules and the schema layer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.validation import (
    SCHEMA_VERSION,
    label_key_error,
    parse_quantity,
    schema_errors,
    validate_pod,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("100u", Decimal("0.0001")),
        (2, Decimal(2)),
        (".5", Decimal("0.5")),
    ],
)
def test_parse_quantity(text: object, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "lots", "1.5cores", "1 Gi", "Mi", "1KB", True, None])
def test_not_a_quantity(text: object) -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        parse_quantity(text)


def test_label_keys() -> None:
    assert label_key_error("app.kubernetes.io/name") is None
    assert label_key_error("a" * 64) == "the name part has 64 characters; at most 63 are allowed"
    assert label_key_error("/x") == "the prefix before '/' is empty"


def test_schema_is_a_recent_kubernetes_version() -> None:
    major, minor = map(int, SCHEMA_VERSION.split("."))
    assert (major, minor) >= (1, 31)


def test_schema_accepts_a_native_sidecar_and_rejects_unknown_fields() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [{"name": "proxy", "image": "i", "restartPolicy": "Always"}],
            "containers": [{"name": "c", "image": "i"}],
        },
    }
    assert schema_errors(pod) == []
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "x"
    assert schema_errors(pod) == [
        "spec.containers[0]: unknown field 'imagePullPolicyy' (did you mean 'imagePullPolicy'?)"
    ]


def test_validate_pod_lists_every_problem() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "x", "protocol": "tcp"}]}]
        },
    }
    with pytest.raises(PodSpecError) as info:
        validate_pod(pod)
    assert str(info.value) == (
        "invalid pod:\n"
        "  spec.containers[0].ports[0].protocol: 'tcp' is not one of TCP, UDP, SCTP\n"
        "  spec.containers[0].ports[0].containerPort: expected integer, got str 'x'"
    )


def test_a_pod_without_containers() -> None:
    with pytest.raises(PodSpecError, match=r"spec.containers: a pod needs at least one container"):
        validate_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})


def test_unrendered_templates_are_only_allowed_when_asked() -> None:
    from airflow_provider_k8spod.pod.validation import semantic_errors

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"day": "{{ ds_nodash }}"}},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "{{ m }}"}}}]},
    }
    assert semantic_errors(pod, allow_templates=True) == []
    assert len(semantic_errors(pod)) == 2
    pod["metadata"]["labels"]["bad"] = "a b"
    assert semantic_errors(pod, allow_templates=True) == [
        "metadata.labels.bad: invalid value 'a b': a label value must be empty or consist of alphanumerics, "
        "'-', '_' or '.', and start and end with an alphanumeric"
    ]
