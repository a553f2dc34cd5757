from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_k8spod.testing.apiserver import validation
from airflow_provider_k8spod.testing.apiserver.errors import invalid


def _pod(**spec: Any) -> dict[str, Any]:
    meta = spec.pop("metadata", {"name": "p"})
    base: dict[str, Any] = {"containers": [{"name": "base", "image": "busybox"}]}
    base.update(spec)
    return {"metadata": meta, "spec": base}


def _fields(pod: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field, c.reason) for c in validation.validate_pod(pod)]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a", True),
        ("my-pod.example", True),
        ("0abc", True),
        ("Bad_Name", False),
        ("-lead", False),
        ("trail-", False),
        ("a" * 253, True),
        ("a" * 254, False),
        ("UPPER", False),
    ],
)
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    assert (validation.dns1123_subdomain_errors(value) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("base", True), ("a.b", False), ("a" * 63, True), ("a" * 64, False), ("x_y", False)],
)
def test_dns1123_label(value: str, ok: bool) -> None:
    assert (validation.dns1123_label_errors(value) == []) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("app", True),
        ("example.com/app", True),
        ("app.kubernetes.io/name", True),
        ("MyName", True),
        ("bad key", False),
        ("/x", False),
        ("a/b/c", False),
        ("Example.COM/x", False),
        ("x" * 64, False),
        ("_x", False),
    ],
)
def test_label_keys(key: str, ok: bool) -> None:
    assert (validation.qualified_name_errors(key) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"), [("", True), ("v1.2_3-x", True), ("bad value!", False), ("-x", False), ("x" * 64, False)]
)
def test_label_values(value: str, ok: bool) -> None:
    assert (validation.label_value_errors(value) == []) is ok


def test_name_message_is_the_api_servers() -> None:
    causes = validation.validate_pod(_pod(metadata={"name": "Bad_Name"}))
    assert [c.field for c in causes] == ["metadata.name"]
    assert causes[0].reason == "FieldValueInvalid"
    assert causes[0].message == (
        'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
        "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    error = invalid("Pod", "Bad_Name", causes)
    assert error.code == 422
    assert error.message.startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ')


def test_container_name_message_has_the_double_space() -> None:
    pod = _pod(containers=[{"name": "Base", "image": "busybox"}])
    (cause,) = validation.validate_pod(pod)
    assert cause.field == "spec.containers[0].name"
    assert "(e.g. 'my-name',  or '123-abc'," in cause.message


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (_pod(metadata={}), [("metadata.name", "FieldValueRequired")]),
        (
            {"metadata": {"name": "p"}, "spec": {"containers": []}},
            [("spec.containers", "FieldValueRequired")],
        ),
        (_pod(containers=[{"name": "base"}]), [("spec.containers[0].image", "FieldValueRequired")]),
        (_pod(containers=[{"image": "x"}]), [("spec.containers[0].name", "FieldValueRequired")]),
        (
            _pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
            [("spec.containers[1].name", "FieldValueDuplicate")],
        ),
        (
            _pod(initContainers=[{"name": "base", "image": "x"}]),
            [("spec.containers[0].name", "FieldValueDuplicate")],
        ),
        (_pod(restartPolicy="Sometimes"), [("spec.restartPolicy", "FieldValueNotSupported")]),
        (_pod(activeDeadlineSeconds=0), [("spec.activeDeadlineSeconds", "FieldValueInvalid")]),
        (
            _pod(
                containers=[
                    {"name": "b", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
                ]
            ),
            [("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound")],
        ),
        (
            _pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
            [("spec.volumes[1].name", "FieldValueDuplicate")],
        ),
        (
            _pod(containers=[{"name": "b", "image": "x", "env": [{"name": "1BAD", "value": "x"}]}]),
            [("spec.containers[0].env[0].name", "FieldValueInvalid")],
        ),
        (
            _pod(initContainers=[{"name": "i", "image": "x", "restartPolicy": "Never"}]),
            [("spec.initContainers[0].restartPolicy", "FieldValueNotSupported")],
        ),
        (
            _pod(containers=[{"name": "b", "image": "x", "restartPolicy": "Always"}]),
            [("spec.containers[0].restartPolicy", "FieldValueForbidden")],
        ),
        (
            _pod(metadata={"name": "p", "labels": {"bad key!": "v"}}),
            [("metadata.labels", "FieldValueInvalid")],
        ),
        (
            _pod(metadata={"name": "p", "labels": {"k": "bad value!"}}),
            [("metadata.labels", "FieldValueInvalid")],
        ),
        (_pod(metadata={"generateName": "job-"}), []),
        (_pod(metadata={"generateName": "Job-"}), [("metadata.generateName", "FieldValueInvalid")]),
        (_pod(initContainers=[{"name": "side", "image": "x", "restartPolicy": "Always"}]), []),
    ],
)
def test_pod_validation_table(pod: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _fields(pod) == expected


def test_several_errors_are_listed_in_brackets() -> None:
    pod = _pod(containers=[{"name": "a"}, {"name": "a"}])
    error = invalid("Pod", "p", validation.validate_pod(pod))
    assert error.message == (
        'Pod "p" is invalid: [spec.containers[0].image: Required value, spec.containers[1].name: Duplicate '
        'value: "a", spec.containers[1].image: Required value]'
    )
    assert [c["field"] for c in error.status()["details"]["causes"]] == [
        "spec.containers[0].image",
        "spec.containers[1].name",
        "spec.containers[1].image",
    ]


@pytest.mark.parametrize(
    ("key", "ok"), [("app.properties", True), ("KEY_1", True), ("a/b", False), ("..x", False), (".", False)]
)
def test_config_keys(key: str, ok: bool) -> None:
    causes = validation.validate_config_data({"metadata": {"name": "c"}, "data": {key: "v"}}, "ConfigMap")
    assert (causes == []) is ok
