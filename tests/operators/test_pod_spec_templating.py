"""Templating with the real Airflow: a DAG run with ``dag.test()`` builds pods from rendered arguments.

The tasks of the DAG below build their pod from the real task context (the code ``execute`` will use) and
push it as an XCom, which the tests read back from the metadata database.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_k8spod.pod.validation import schema_errors, semantic_errors

pytestmark = [pytest.mark.airflow_db, pytest.mark.timeout(240)]

DAG_SOURCE = textwrap.dedent(
    '''
    import datetime

    from airflow.sdk import DAG
    from kubernetes.client import models as k8s

    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator


    class BuildOnly(KubernetesPodOperator):
        """Builds the pod from the real context and records it instead of running it."""

        def execute(self, context):
            pod = self.build_pod_manifest(context)
            record = {"task_id": self.task_id, "map_index": context["ti"].map_index,
                      "run_id": context["run_id"], "ds": context["ds"], "pod": pod}
            # do_xcom_push stays False (True would add the XCom sidecar to the pod under test).
            context["ti"].xcom_push(key="built_pod", value=record)


    with DAG(
        "k8spod_templating",
        schedule=None,
        start_date=datetime.datetime(2024, 1, 1),
        params={"memory": "96Mi", "tag": "1.36"},
        default_args={"kubernetes_conn_id": None},
    ) as dag:
        BuildOnly(
            task_id="models",
            image="busybox:{{ params.tag }}",
            env_vars={"DAY_{{ ds_nodash }}": "{{ ds }}", "RUN": "{{ run_id }}"},
            volumes=[k8s.V1Volume(name="cfg-{{ ds_nodash }}",
                                  config_map=k8s.V1ConfigMapVolumeSource(name="settings-{{ ds_nodash }}"))],
            volume_mounts=[k8s.V1VolumeMount(name="cfg-{{ ds_nodash }}", mount_path="/cfg")],
            container_resources=k8s.V1ResourceRequirements(limits={"memory": "{{ params.memory }}"}),
            labels={"day": "{{ ds_nodash }}"},
            annotations={"example.com/run": "{{ run_id }}"},
        )
        BuildOnly.partial(task_id="mapped_args", image="busybox").expand(
            arguments=[["first"], ["second"], ["{{ ds }}"]]
        )
        BuildOnly.partial(task_id="mapped_env", image="busybox").expand(
            env_vars=[{"WHEN": "{{ ds }}"}, {"WHEN": "later"}]
        )
        BuildOnly(
            task_id="yaml_template",
            pod_template_dict="""
    apiVersion: v1
    kind: Pod
    metadata:
      labels: {day: "{{ ds_nodash }}"}
    spec:
      containers:
        - name: base
          image: busybox
          args: ["{{ ds }}"]
    """,
        )

    '''
)


@pytest.fixture
def built_pods(run_dag: Callable[..., Any]) -> list[dict[str, Any]]:
    result = run_dag(DAG_SOURCE)
    assert result.state == "success", result.log[-4000:]
    return [value for (_, key), value in sorted(result.xcoms.items()) if key == "built_pod"]


def _by_task(pods: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return sorted((p for p in pods if p["task_id"] == task_id), key=lambda p: p["map_index"])


def test_every_task_built_a_valid_pod(built_pods: list[dict[str, Any]]) -> None:
    assert sorted((p["task_id"], p["map_index"]) for p in built_pods) == [
        ("mapped_args", 0),
        ("mapped_args", 1),
        ("mapped_args", 2),
        ("mapped_env", 0),
        ("mapped_env", 1),
        ("models", -1),
        ("yaml_template", -1),
    ]
    for record in built_pods:
        assert schema_errors(record["pod"]) == []
        assert semantic_errors(record["pod"]) == []


def test_values_render_inside_models_env_volumes_resources_and_labels(
    built_pods: list[dict[str, Any]],
) -> None:
    (record,) = _by_task(built_pods, "models")
    ds, run_id = record["ds"], record["run_id"]
    nodash = ds.replace("-", "")
    pod = record["pod"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["env"] == [{"name": f"DAY_{nodash}", "value": ds}, {"name": "RUN", "value": run_id}]
    assert container["volumeMounts"] == [{"mountPath": "/cfg", "name": f"cfg-{nodash}"}]
    assert container["resources"] == {"limits": {"memory": "96Mi"}}
    assert pod["spec"]["volumes"] == [{"configMap": {"name": f"settings-{nodash}"}, "name": f"cfg-{nodash}"}]
    assert pod["metadata"]["labels"]["day"] == nodash
    assert pod["metadata"]["annotations"]["example.com/run"] == run_id


def test_identity_comes_from_the_real_task_instance(built_pods: list[dict[str, Any]]) -> None:
    (record,) = _by_task(built_pods, "models")
    metadata = record["pod"]["metadata"]
    assert metadata["annotations"]["airflow-provider-k8spod/run_id"] == record["run_id"]
    assert metadata["labels"]["dag_id"] == "k8spod_templating"
    assert metadata["labels"]["task_id"] == "models"
    assert metadata["labels"]["try_number"] == "1"
    assert "map_index" not in metadata["labels"]


def test_mapped_tasks_build_distinct_pods(built_pods: list[dict[str, Any]]) -> None:
    mapped = _by_task(built_pods, "mapped_args")
    assert [r["pod"]["spec"]["containers"][0]["args"] for r in mapped] == [
        ["first"],
        ["second"],
        [mapped[2]["ds"]],
    ]
    assert [r["pod"]["metadata"]["labels"]["map_index"] for r in mapped] == ["0", "1", "2"]
    names = {r["pod"]["metadata"]["name"] for r in mapped}
    assert len(names) == 3
    env = _by_task(built_pods, "mapped_env")
    assert [r["pod"]["spec"]["containers"][0]["env"] for r in env] == [
        [{"name": "WHEN", "value": env[0]["ds"]}],
        [{"name": "WHEN", "value": "later"}],
    ]


def test_a_yaml_template_given_as_text_is_rendered(built_pods: list[dict[str, Any]]) -> None:
    (record,) = _by_task(built_pods, "yaml_template")
    pod = record["pod"]
    assert pod["spec"]["containers"][0]["args"] == [record["ds"]]
    assert pod["metadata"]["labels"]["day"] == record["ds"].replace("-", "")
