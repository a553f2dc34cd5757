"""Conversion of models, snake_case and camelCase dicts to the canonical form."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.normalize import parse_manifest_text, to_api, to_model


def test_snake_and_camel_case_give_the_same_result() -> None:
    snake = {"name": "c", "image_pull_policy": "Always", "security_context": {"run_as_user": 1}}
    camel = {"name": "c", "imagePullPolicy": "Always", "securityContext": {"runAsUser": 1}}
    assert to_api(snake, "V1Container", "c") == to_api(camel, "V1Container", "c") == camel


def test_keys_of_maps_are_never_converted() -> None:
    container = {
        "name": "c",
        "resources": {"limits": {"nvidia.com/gpu": 1, "ephemeral_storage": "1Gi"}},
    }
    assert to_api(container, "V1Container", "c")["resources"] == {
        "limits": {"nvidia.com/gpu": "1", "ephemeral_storage": "1Gi"}
    }
    meta = {"labels": {"app_name": "x", "someKey": "y"}, "annotations": {"a_b/c_d": "z"}}
    assert to_api(meta, "V1ObjectMeta", "metadata") == meta


def test_a_model_converts_like_the_kubernetes_client_serializes_it() -> None:
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p", labels={"a_b": "c"}),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="c", image="i", env=[k8s.V1EnvVar(name="A", value="1")])],
            host_network=False,
        ),
    )
    expected = ApiClient().sanitize_for_serialization(pod)
    assert to_api(pod, "V1Pod", "") == expected
    assert expected["spec"]["hostNetwork"] is False


def test_models_inside_dicts_and_dicts_inside_lists() -> None:
    value = {
        "containers": [
            {
                "name": "c",
                "env": [
                    k8s.V1EnvVar(name="A", value="1"),
                    {"name": "B", "value_from": {"field_ref": {"field_path": "x"}}},
                ],
            }
        ]
    }
    assert to_api(value, "V1PodSpec", "spec")["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
    ]


def test_round_trip_to_a_model() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
    }
    model = to_model(pod, "V1Pod")
    assert isinstance(model, k8s.V1Pod)
    assert model.spec.containers[0].ports[0].container_port == 80
    assert to_api(model, "V1Pod", "") == pod


def test_unknown_field_suggests_a_field_for_a_camel_case_typo() -> None:
    with pytest.raises(
        PodSpecError,
        match=r"^spec.hostNetwrok: unknown field 'hostNetwrok' for PodSpec; did you mean 'hostNetwork'\?$",
    ):
        to_api({"hostNetwrok": True}, "V1PodSpec", "spec")


def test_unknown_field_far_from_any_has_no_suggestion() -> None:
    with pytest.raises(PodSpecError, match=r"^c.zzzzzz: unknown field 'zzzzzz' for Container$"):
        to_api({"name": "x", "zzzzzz": 1}, "V1Container", "c")


def test_object_expected() -> None:
    with pytest.raises(PodSpecError, match=r"^affinity: expected an object \(V1Affinity\), got a string"):
        to_api("zone=a", "V1Affinity", "affinity")


def test_parse_manifest_text_json_and_yaml() -> None:
    assert parse_manifest_text('{"kind": "Pod"}', "x") == {"kind": "Pod"}
    assert parse_manifest_text("kind: Pod\n", "x") == {"kind": "Pod"}
    with pytest.raises(PodSpecError, match="the manifest is empty"):
        parse_manifest_text("# nothing\n", "x")


def test_yaml_is_loaded_safely() -> None:
    with pytest.raises(PodSpecError, match="not valid YAML"):
        parse_manifest_text("!!python/object/apply:os.system ['true']", "x")


def test_a_pod_with_a_none_quantity_becomes_a_model_and_keeps_it_where_the_models_allow() -> None:
    import kubernetes

    from airflow_provider_k8spod.pod.normalize import (
        null_quantities,
        restore_null_quantities,
        to_api,
        to_model,
        without_null_quantities,
    )

    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "base",
                    "image": "busybox",
                    "resources": {"limits": {"nvidia.com/gpu": None, "cpu": "1"}},
                }
            ]
        },
    }
    nulls = null_quantities(pod)
    assert nulls == [("containers", "base", "limits", "nvidia.com/gpu")]
    model = to_model(pod, "V1Pod")
    limits = model.spec.containers[0].resources.limits
    if int(kubernetes.__version__.split(".")[0]) >= 37:
        assert limits == {"cpu": "1"}  # pydantic models: a quantity must be a string
    else:
        assert limits == {"nvidia.com/gpu": None, "cpu": "1"}
    back = to_api(model, "V1Pod", "pod")
    restore_null_quantities(back, nulls)
    assert back["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "nvidia.com/gpu": None}
    assert without_null_quantities(pod)["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1"}
    assert null_quantities(pod) == nulls  # the original is unchanged
