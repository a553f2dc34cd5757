"""Each bad input gives a PodSpecError, before anything is created, whose message names the field.

The messages are asserted in full where their wording is the point (users read them in the task log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.pod.xcom import SidecarSettings


def build(**arguments: Any) -> dict[str, Any]:
    return build_pod(arguments, task_id="task")


def error_of(**arguments: Any) -> str:
    with pytest.raises(PodSpecError) as info:
        build(**arguments)
    return str(info.value)


def manifest(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec}


# --- names and labels -----------------------------------------------------------------------------------


def test_pod_name_with_forbidden_characters() -> None:
    assert error_of(image="busybox", name="bad name!") == (
        "name: 'bad name!' contains ' ', '!'; a pod name may only contain letters, digits, '-', '_' and '.'"
    )


def test_pod_name_longer_than_220_characters_like_upstream() -> None:
    # Upstream's limit on name= (before the suffix cuts the pod name to 63); it used to be cut silently.
    assert error_of(image="busybox", name="a" * 221) == (
        f"name: 221 characters; a pod name may have at most 220 (as with upstream's operator): {'a' * 40!r}..."
    )
    assert len(build(image="busybox", name="a" * 220)["metadata"]["name"]) == 63


def test_pod_name_that_is_not_dns_1123() -> None:
    message = error_of(image="busybox", name="-leading-dash", random_name_suffix=False)
    assert message == (
        "invalid pod: metadata.name: '-leading-dash' is not a DNS-1123 subdomain (lower-case letters, digits "
        "and '-', dots; starting and ending with a letter or digit; at most 253 characters)"
    )


def test_manifest_pod_name_with_upper_case() -> None:
    message = error_of(
        pod_template_dict={
            "metadata": {"name": "MyPod"},
            **manifest(containers=[{"name": "b", "image": "i"}]),
        }
    )
    assert "metadata.name: 'MyPod-" in message
    assert "is not a DNS-1123 subdomain" in message


def test_namespace_that_is_not_a_dns_label() -> None:
    assert "metadata.namespace: 'Team_A' is not a DNS-1123 label" in error_of(image="b", namespace="Team_A")


def test_label_value_with_invalid_characters() -> None:
    message = error_of(image="busybox", labels={"team": "data science!"})
    assert message == (
        "invalid pod: metadata.labels.team: invalid value 'data science!': a label value must be empty or "
        "consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric"
    )


def test_label_value_too_long() -> None:
    message = error_of(image="busybox", labels={"team": "x" * 64})
    assert "metadata.labels.team: invalid value 'xxx" in message
    assert "the value has 64 characters; at most 63 are allowed" in message


def test_label_key_with_invalid_prefix() -> None:
    message = error_of(image="busybox", labels={"Example.COM/team": "data"})
    assert message == (
        "invalid pod: metadata.labels[\"Example.COM/team\"]: invalid key 'Example.COM/team': the prefix "
        "'Example.COM' must be a DNS-1123 subdomain (lower-case, at most 253 characters)"
    )


def test_annotation_key_with_space() -> None:
    assert "metadata.annotations[\"my note\"]: invalid key 'my note'" in error_of(
        image="busybox", annotations={"my note": "x"}
    )


def test_label_that_would_overwrite_the_identity() -> None:
    assert error_of(image="busybox", labels={"dag_id": "other", "x": "y"}) == (
        "labels: 'dag_id' identify the task instance and are set by the provider; choose other label keys"
    )


def test_container_name_not_dns_label() -> None:
    message = error_of(pod_template_dict=manifest(containers=[{"name": "Main_Container", "image": "b"}]))
    assert "spec.containers[0].name: 'Main_Container' is not a DNS-1123 label" in message


# --- unknown fields ----------------------------------------------------------------------------------------


def test_unknown_field_in_argument_dict_names_the_closest_field() -> None:
    message = error_of(image="busybox", volume_mounts=[{"name": "data", "mountpath": "/data"}])
    assert (
        message
        == "volume_mounts[0].mountpath: unknown field 'mountpath' for VolumeMount; did you mean 'mountPath'?"
    )


def test_unknown_snake_case_field_suggests_the_field() -> None:
    message = error_of(image="busybox", container_security_context={"run_as_usr": 1000})
    assert message == (
        "container_security_context.run_as_usr: unknown field 'run_as_usr' for SecurityContext; "
        "did you mean 'runAsUser'?"
    )


def test_unknown_field_in_yaml_manifest() -> None:
    text = """
apiVersion: v1
kind: Pod
spec:
  containers:
    - name: base
      image: busybox
      imagePullPolicyy: Always
"""
    assert error_of(pod_template_dict=text) == (
        "pod_template_dict: spec.containers[0].imagePullPolicyy: unknown field 'imagePullPolicyy' for "
        "Container; did you mean 'imagePullPolicy'?"
    )


def test_unknown_field_in_template_file(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(
        yaml.safe_dump(manifest(nodeSelektor={"a": "b"}, containers=[{"name": "b", "image": "i"}]))
    )
    assert error_of(pod_template_file=str(path)) == (
        f"pod_template_file {str(path)!r}: spec.nodeSelektor: unknown field 'nodeSelektor' for PodSpec; "
        "did you mean 'nodeSelector'?"
    )


def test_field_given_twice_in_two_spellings() -> None:
    message = error_of(image="busybox", ports=[{"containerPort": 80, "container_port": 81}])
    assert (
        message
        == "ports[0].containerPort: given twice, as 'containerPort' and 'container_port'; keep one of them"
    )


def test_wrong_type_reported_by_the_schema_with_its_path() -> None:
    message = error_of(image="busybox", ports=[{"containerPort": "http"}])
    assert (
        message == "invalid pod: spec.containers[0].ports[0].containerPort: expected integer, got str 'http'"
    )


def test_list_expected_where_a_string_was_given() -> None:
    assert error_of(image="busybox", cmds="echo hi") == "cmds: expected a list, got a string ('echo hi')"


def test_enum_value_that_kubernetes_rejects() -> None:
    assert error_of(image="busybox", image_pull_policy="Sometimes") == (
        "invalid pod: spec.containers[0].imagePullPolicy: 'Sometimes' is not one of Always, IfNotPresent, Never"
    )


# --- volumes, containers, resources ---------------------------------------------------------------------


def test_volume_mount_that_references_no_volume() -> None:
    message = error_of(
        image="busybox",
        volumes=[{"name": "data", "emptyDir": {}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}, {"name": "cache", "mountPath": "/cache"}],
    )
    assert message == (
        "invalid pod: spec.containers[0].volumeMounts[1].name: mounts volume 'cache', but the pod has no "
        "volume of that name (volumes: 'data')"
    )


def test_two_mounts_at_one_path() -> None:
    text = manifest(
        volumes=[{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
        containers=[
            {
                "name": "base",
                "image": "i",
                "volumeMounts": [{"name": "a", "mountPath": "/x"}, {"name": "b", "mountPath": "/x"}],
            }
        ],
    )
    assert "spec.containers[0].volumeMounts[1].mountPath: '/x' is already mounted by" in error_of(
        pod_template_dict=text
    )


def test_duplicate_container_names() -> None:
    message = error_of(
        pod_template_dict=manifest(
            containers=[{"name": "base", "image": "a"}, {"name": "base", "image": "b"}]
        )
    )
    assert message == (
        "invalid pod: spec.containers[1].name: duplicate container name 'base' (also spec.containers[0]); "
        "container and init container names must be unique in a pod"
    )


def test_init_container_named_like_a_container() -> None:
    message = error_of(image="busybox", init_containers=[{"name": "base", "image": "busybox"}])
    assert "spec.containers[0].name: duplicate container name 'base' (also spec.initContainers[0])" in message


def test_duplicate_volume_names_in_a_manifest() -> None:
    text = manifest(
        containers=[{"name": "base", "image": "i"}],
        volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "configMap": {"name": "c"}}],
    )
    assert error_of(pod_template_dict=text) == (
        "invalid pod: spec.volumes[1].name: duplicate volume name 'v' (also spec.volumes[0])"
    )


def test_resource_quantity_that_does_not_parse() -> None:
    message = error_of(image="busybox", container_resources={"limits": {"memory": "lots", "cpu": "1.5cores"}})
    assert message == (
        "invalid pod:\n"
        "  spec.containers[0].resources.limits.memory: 'lots' is not a resource quantity "
        "(examples: '500m', '2', '128Mi', '1Gi')\n"
        "  spec.containers[0].resources.limits.cpu: '1.5cores' is not a resource quantity "
        "(examples: '500m', '2', '128Mi', '1Gi')"
    )


def test_a_none_resource_quantity_is_sent_as_upstream_sends_it() -> None:
    # limits={"nvidia.com/gpu": None} works with upstream (the API server reads null as zero).
    pod = build(
        image="busybox",
        container_resources={"limits": {"nvidia.com/gpu": None, "cpu": "1"}, "requests": {"cpu": None}},
    )
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"nvidia.com/gpu": None, "cpu": "1"},
        "requests": {"cpu": None},
    }


def test_resource_request_above_its_limit() -> None:
    message = error_of(
        image="busybox", container_resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}
    )
    assert message == (
        "invalid pod: spec.containers[0].resources.requests.memory: request '2Gi' is above the limit '1Gi'"
    )


def test_active_deadline_of_zero() -> None:
    assert error_of(image="busybox", active_deadline_seconds=0) == (
        "invalid pod: spec.activeDeadlineSeconds: must be between 1 and 2147483647, got 0"
    )


# --- manifests --------------------------------------------------------------------------------------------


def test_manifest_that_is_not_a_pod() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {}}}
    assert error_of(pod_template_dict=deployment) == (
        "pod_template_dict: kind: expected a Pod manifest, got kind 'Deployment'; use the pod template "
        "inside it (its spec.template) as the manifest"
    )


def test_pod_with_the_wrong_api_version() -> None:
    assert error_of(full_pod_spec={"apiVersion": "v2", "kind": "Pod", "spec": {}}) == (
        "full_pod_spec: apiVersion: expected 'v1' for a Pod, got 'v2'"
    )


def test_two_template_sources() -> None:
    assert error_of(pod_template_file="/x.yaml", pod_template_dict=manifest()) == (
        "pod_template_file and pod_template_dict: both are given; pass only one template "
        "(full_pod_spec may be laid over either)"
    )


def test_missing_template_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error_of(pod_template_file=str(path)) == (
        f"pod_template_file {str(path)!r}: cannot read the file: No such file or directory"
    )


def test_template_file_given_manifest_text() -> None:
    assert error_of(pod_template_file="apiVersion: v1\nkind: Pod\n") == (
        "pod_template_file: expected a file path, got manifest text; pass YAML or JSON text as "
        "pod_template_dict instead"
    )


def test_yaml_syntax_error() -> None:
    assert error_of(pod_template_dict="spec:\n  containers: [\n").startswith(
        "pod_template_dict: not valid YAML or JSON at line 3 column 1"
    )


def test_several_yaml_documents() -> None:
    assert error_of(pod_template_dict="kind: Pod\n---\nkind: Pod\n") == (
        "pod_template_dict: expected one YAML document (one Pod), found 2"
    )


def test_manifest_text_that_is_not_a_mapping() -> None:
    assert error_of(pod_template_dict="- a\n- b\n") == (
        "pod_template_dict: expected a mapping (a Pod manifest), got list ['a', 'b']"
    )


def test_restart_policy_always() -> None:
    text = manifest(restartPolicy="Always", containers=[{"name": "base", "image": "i"}])
    assert error_of(pod_template_dict=text) == (
        "spec.restartPolicy: 'Always' would restart the pod forever and the task would never finish; use "
        "'Never' (the default) or 'OnFailure'"
    )


# --- arguments that cannot apply ---------------------------------------------------------------------------


def test_no_image_and_no_manifest() -> None:
    assert error_of(cmds=["echo"]) == (
        "image: no image for the main container; pass image=... or a manifest with a container"
    )


def test_base_container_name_absent_from_the_manifest() -> None:
    text = manifest(containers=[{"name": "app", "image": "i"}, {"name": "proxy", "image": "p"}])
    assert error_of(pod_template_dict=text, base_container_name="worker", image="new") == (
        "base_container_name: the manifest has no container named 'worker' (containers: 'app', 'proxy')"
    )


def test_default_container_annotation_that_contradicts_the_main_container() -> None:
    message = error_of(image="busybox", annotations={"kubectl.kubernetes.io/default-container": "other"})
    assert message == (
        "annotations['kubectl.kubernetes.io/default-container']: 'other' is not the main container "
        "'base'; the main container is chosen with base_container_name"
    )


def test_env_var_value_that_is_not_a_string() -> None:
    assert error_of(image="busybox", env_vars={"WORKERS": 4}) == (
        "env_vars.WORKERS: an environment variable value must be a string, got int 4; quote it"
    )


def test_configmaps_given_as_one_string() -> None:
    assert error_of(image="busybox", configmaps="my-config") == (
        "configmaps: expected a list of names, got 'my-config'"
    )


def test_argument_of_the_wrong_model_type() -> None:
    # A V1Toleration where an affinity belongs: its fields are unknown to Affinity.
    message = error_of(image="busybox", affinity=k8s.V1Toleration(key="a", operator="Exists"))
    assert message == "affinity.key: unknown field 'key' for Affinity"


def test_xcom_volume_name_taken_by_the_user() -> None:
    text = manifest(
        containers=[{"name": "base", "image": "i", "volumeMounts": [{"name": "xcom", "mountPath": "/out"}]}],
        volumes=[{"name": "xcom", "configMap": {"name": "c"}}],
    )
    with pytest.raises(PodSpecError) as info:
        build_pod({"pod_template_dict": text}, task_id="t", xcom_sidecar=SidecarSettings())
    assert str(info.value) == (
        "spec.volumes[0]: the volume name 'xcom' is reserved for the XCom sidecar's emptyDir when "
        "do_xcom_push=True; rename your volume"
    )


def test_secret_of_the_wrong_shape() -> None:
    assert error_of(image="busybox", secrets=["db-password"]) == (
        "secrets[0]: expected a Secret (deploy_type, deploy_target, secret, key), got 'db-password'"
    )


def test_build_pod_rejects_names_that_are_not_pod_arguments() -> None:
    with pytest.raises(TypeError, match="not pod arguments: get_logs"):
        build_pod({"image": "x", "get_logs": True}, task_id="t")
