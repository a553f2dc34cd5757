"""KubernetesPodOperator: constructor parity with upstream, passed-argument tracking, templating, dry_run.

Building and dry_run never contact a cluster: these tests have none and no credentials.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.operators import pod as operator_module
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

#: Upstream's 73 keyword arguments and their defaults (reference inventory 2.2). ``deferrable`` defaults
#: to the ``[operators] default_deferrable`` option, which is False here.
UPSTREAM_DEFAULTS: dict[str, Any] = {
    "kubernetes_conn_id": "kubernetes_default", "namespace": None, "name": None, "random_name_suffix": True,
    "in_cluster": None, "cluster_context": None, "config_file": None, "image": None, "cmds": None,
    "arguments": None, "ports": None, "volume_mounts": None, "env_vars": None, "env_from": None,
    "configmaps": None, "secrets": None, "pod_runtime_info_envs": None, "image_pull_policy": None,
    "container_resources": None, "container_security_context": None, "termination_message_policy": "File",
    "base_container_name": None, "labels": None, "annotations": None, "volumes": None, "init_containers": None,
    "image_pull_secrets": None, "service_account_name": None, "automount_service_account_token": None,
    "hostnetwork": False, "host_aliases": None, "dnspolicy": None, "dns_config": None, "hostname": None,
    "subdomain": None, "priority_class_name": None, "runtime_class_name": None, "active_deadline_seconds": None,
    "termination_grace_period": None, "full_pod_spec": None, "pod_template_file": None,
    "pod_template_dict": None, "node_selector": None, "affinity": None, "tolerations": None,
    "schedulername": None, "schedule_timeout_seconds": None, "startup_timeout_seconds": 120,
    "startup_check_interval_seconds": 5, "security_context": None,
    "xcom_sidecar_container_security_context": None, "on_finish_action": "delete_pod",
    "on_kill_action": "delete_pod", "is_delete_operator_pod": None, "durable": None,
    "reattach_on_restart": None, "skip_on_exit_code": None, "log_pod_spec_on_failure": True, "get_logs": True,
    "container_logs": None, "init_container_logs": None, "container_name_log_prefix_enabled": True,
    "log_formatter": None, "log_events_on_failure": False, "log_events_on_startup": True,
    "base_container_status_polling_interval": 1, "do_xcom_push": False, "deferrable": None,
    "poll_interval": 2, "logging_interval": None, "trigger_kwargs": None, "callbacks": None,
    "progress_callback": None,
}  # fmt: skip

UPSTREAM_TEMPLATE_FIELDS = (
    "image", "name", "hostname", "cmds", "annotations", "arguments", "env_vars", "labels", "config_file",
    "pod_template_file", "pod_template_dict", "namespace", "container_resources", "volumes", "volume_mounts",
    "cluster_context", "env_from", "configmaps", "node_selector", "kubernetes_conn_id", "base_container_name",
    "trigger_kwargs",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_in_cluster_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(operator_module, "IN_CLUSTER_NAMESPACE_FILE", str(tmp_path / "no-such-file"))


def test_constructor_has_upstreams_73_arguments_with_their_defaults() -> None:
    assert len(UPSTREAM_DEFAULTS) == 73
    parameters = inspect.signature(KubernetesPodOperator.__init__).parameters
    ours = {name: p.default for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert {name: ours.get(name, "MISSING") for name in UPSTREAM_DEFAULTS} == UPSTREAM_DEFAULTS
    assert set(ours) - set(UPSTREAM_DEFAULTS) == {
        "xcom_sidecar_container_image",
        "xcom_sidecar_container_resources",
        "max_xcom_size",
        "pod_report",
        "pod_recreate_attempts",
        "xcom_transport",
    }


def test_template_fields_are_upstreams() -> None:
    assert tuple(KubernetesPodOperator.template_fields) == UPSTREAM_TEMPLATE_FIELDS


def test_derived_defaults_like_upstream() -> None:
    op = KubernetesPodOperator(task_id="t", skip_on_exit_code=100, startup_timeout_seconds=30)
    assert op.schedule_timeout_seconds == 30
    assert op.durable is True
    assert op.reattach_on_restart is True
    assert op.container_logs == "base"
    assert op.skip_on_exit_code == [100]
    assert op.deferrable is False
    assert op.base_container_name == "base"
    assert op.callbacks == []
    assert op.is_delete_operator_pod is True
    op.base_container_name = "main"
    assert op.container_logs == "main", "container_logs follows the (rendered) base container name"


def test_deprecated_reattach_on_restart_sets_durable() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        op = KubernetesPodOperator(task_id="t", reattach_on_restart=False)
    assert op.durable is False
    assert op.reattach_on_restart is False
    assert any("reattach_on_restart is deprecated" in str(w.message) for w in caught)
    with pytest.warns(DeprecationWarning, match="reattach_on_restart"):
        both = KubernetesPodOperator(task_id="t2", reattach_on_restart=False, durable=True)
    assert both.durable is True


def test_invalid_on_finish_action() -> None:
    with pytest.raises(
        PodSpecError, match="on_finish_action: expected one of delete_pod, delete_succeeded_pod"
    ):
        KubernetesPodOperator(task_id="t", on_finish_action="delete")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"startup_timeout_seconds": -5},
            "startup_timeout_seconds: expected 0 (no limit) or a positive number of seconds, got -5",
        ),
        (
            {"schedule_timeout_seconds": -5},
            "schedule_timeout_seconds: expected 0 (no limit) or a positive number of seconds, got -5",
        ),
        ({"skip_on_exit_code": "three"}, "skip_on_exit_code: 'three' is not an exit code"),
        ({"skip_on_exit_code": 3.0}, "skip_on_exit_code: expected an exit code or a list of exit codes"),
    ],
)
def test_wrong_timeouts_and_exit_codes_are_errors_when_the_dag_is_parsed(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PodSpecError) as caught:
        KubernetesPodOperator(task_id="t", **kwargs)
    assert str(caught.value).startswith(message)
    # What the user sees: the DAG file does not import, with the argument named.
    from airflow.dag_processing.dagbag import DagBag

    dag_file = tmp_path / "bad_dag.py"
    dag_file.write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_k8spod.operators.pod import KubernetesPodOperator\n"
        "with DAG('bad', start_date=pendulum.datetime(2024, 1, 1), schedule=None):\n"
        f"    KubernetesPodOperator(task_id='t', image='busybox', **{kwargs!r})\n"
    )
    bag = DagBag(dag_folder=str(dag_file), safe_mode=False)
    errors = list(bag.import_errors.values())
    assert len(errors) == 1
    assert message in errors[0]


def test_zero_timeouts_and_string_exit_codes_are_accepted() -> None:
    op = KubernetesPodOperator(task_id="t", startup_timeout_seconds=0, skip_on_exit_code="3")
    assert (op.startup_timeout_seconds, op.schedule_timeout_seconds) == (0, 0)
    assert op.skip_on_exit_code == [3]
    assert op.lifecycle_settings().skip_on_exit_code == (3,)
    assert KubernetesPodOperator(task_id="u", skip_on_exit_code=["100", 101]).skip_on_exit_code == [100, 101]


# --- which arguments count as passed -------------------------------------------------------------------


def _template(tmp_path: Path) -> str:
    path = tmp_path / "pod.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "spec": {
                    "hostNetwork": True,
                    "containers": [{"name": "base", "image": "from-template", "command": ["run"]}],
                },
            }
        )
    )
    return str(path)


def test_unpassed_arguments_change_nothing(tmp_path: Path) -> None:
    pod = KubernetesPodOperator(task_id="t", pod_template_file=_template(tmp_path)).build_pod_manifest()
    assert pod["spec"]["hostNetwork"] is True
    main = pod["spec"]["containers"][0]
    assert {k: main[k] for k in ("name", "image", "command")} == {
        "name": "base",
        "image": "from-template",
        "command": ["run"],
    }
    # Only upstream's always-present fields are added, empty (or Kubernetes' default).
    assert {k: v for k, v in main.items() if k not in ("name", "image", "command")} == {
        "args": [],
        "env": [],
        "envFrom": [],
        "ports": [],
        "terminationMessagePolicy": "File",
        "volumeMounts": [],
    }


def test_explicit_false_and_empty_list_override_the_template(tmp_path: Path) -> None:
    op = KubernetesPodOperator(task_id="t", pod_template_file=_template(tmp_path), hostnetwork=False, cmds=[])
    assert op.passed_arguments >= {"hostnetwork", "cmds", "pod_template_file"}
    pod = op.build_pod_manifest()
    assert pod["spec"]["hostNetwork"] is False
    assert pod["spec"]["containers"][0]["command"] == []  # the image's entrypoint, as upstream sends it


def test_default_args_count_as_passed(tmp_path: Path) -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None, default_args={"hostnetwork": False, "image": "from-default-args"}):
        op = KubernetesPodOperator(task_id="t", pod_template_file=_template(tmp_path))
    pod = op.build_pod_manifest()
    assert pod["spec"]["hostNetwork"] is False
    assert pod["spec"]["containers"][0]["image"] == "from-default-args"


def test_explicit_none_counts_as_not_passed(tmp_path: Path) -> None:
    op = KubernetesPodOperator(task_id="t", pod_template_file=_template(tmp_path), image=None, cmds=None)
    assert "image" not in op.passed_arguments
    assert op.build_pod_manifest()["spec"]["containers"][0]["image"] == "from-template"


def test_a_subclass_setting_an_attribute_after_init_is_honoured(tmp_path: Path) -> None:
    class WithDefaults(KubernetesPodOperator):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.image = "set-by-subclass"
            self.labels = {"team": "platform"}

    pod = WithDefaults(task_id="t", pod_template_file=_template(tmp_path)).build_pod_manifest()
    assert pod["spec"]["containers"][0]["image"] == "set-by-subclass"
    assert pod["metadata"]["labels"]["team"] == "platform"


def test_a_subclass_passing_arguments_to_super(tmp_path: Path) -> None:
    class Fixed(KubernetesPodOperator):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(image="fixed", hostnetwork=False, **kwargs)

    pod = Fixed(task_id="t", pod_template_file=_template(tmp_path)).build_pod_manifest()
    assert pod["spec"]["containers"][0]["image"] == "fixed"
    assert pod["spec"]["hostNetwork"] is False


# --- building ----------------------------------------------------------------------------------------------


def test_build_pod_request_obj_returns_the_same_pod_as_a_model() -> None:
    from kubernetes.client import ApiClient

    op = KubernetesPodOperator(task_id="t", image="busybox", do_xcom_push=True, hostnetwork=False)
    model = op.build_pod_request_obj()
    assert isinstance(model, k8s.V1Pod)
    assert ApiClient().sanitize_for_serialization(model) == op.build_pod_manifest()


def test_namespace_from_the_in_cluster_service_account_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("airflow-workers\n")
    monkeypatch.setattr(operator_module, "IN_CLUSTER_NAMESPACE_FILE", str(namespace_file))
    pod = KubernetesPodOperator(task_id="t", image="busybox").build_pod_manifest()
    assert pod["metadata"]["namespace"] == "airflow-workers"


def test_no_connection_at_all() -> None:
    pod = KubernetesPodOperator(task_id="t", image="busybox", kubernetes_conn_id=None).build_pod_manifest()
    assert pod["metadata"]["namespace"] == "default"


def test_pod_mutation_hook_is_applied_and_the_result_validated() -> None:
    from airflow.policies import hookimpl
    from airflow.settings import get_policy_plugin_manager

    class Policy:
        @hookimpl
        def pod_mutation_hook(self, pod: k8s.V1Pod) -> None:
            pod.metadata.labels["mutated"] = "yes"

    class BadPolicy:
        @hookimpl
        def pod_mutation_hook(self, pod: k8s.V1Pod) -> None:
            pod.metadata.labels["bad"] = "no spaces allowed"

    manager = get_policy_plugin_manager()
    policy = Policy()
    manager.register(policy, name="test-policy")
    try:
        pod = KubernetesPodOperator(task_id="t", image="busybox").build_pod_manifest()
    finally:
        manager.unregister(policy)
    assert pod["metadata"]["labels"]["mutated"] == "yes"

    bad = BadPolicy()
    manager.register(bad, name="test-bad-policy")
    try:
        with pytest.raises(PodSpecError, match=r"metadata\.labels\.bad: invalid value 'no spaces allowed'"):
            KubernetesPodOperator(task_id="t", image="busybox").build_pod_manifest()
    finally:
        manager.unregister(bad)


# --- dry_run -----------------------------------------------------------------------------------------------


def test_dry_run_prints_the_pod_as_yaml_with_secrets_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("hunter2-very-secret")
    op = KubernetesPodOperator(
        task_id="report",
        image="busybox",
        env_vars={"DB_PASSWORD": "plain-text", "API_URL": "https://x/?t=hunter2-very-secret", "MODE": "fast"},
        do_xcom_push=True,
    )
    op.dry_run()
    printed = capsys.readouterr().out
    pod = yaml.safe_load(printed)
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == {"DB_PASSWORD": "***", "API_URL": "https://x/?t=***", "MODE": "fast"}
    assert "plain-text" not in printed
    assert "hunter2-very-secret" not in printed
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base", "airflow-xcom-sidecar"]
    assert pod["metadata"]["name"].startswith("report-")
    assert "dag_id" not in pod["metadata"]["labels"], "no task instance, no identity labels"
    # What was built (not printed) keeps the real values.
    assert op.build_pod_manifest()["spec"]["containers"][0]["env"][0]["value"] == "plain-text"


def test_dry_run_reports_invalid_input_before_anything_else() -> None:
    op = KubernetesPodOperator(task_id="t", image="busybox", labels={"team": "a b"})
    with pytest.raises(PodSpecError, match=r"metadata\.labels\.team"):
        op.dry_run()


# --- rendering (the SDK's own rendering code, with a real context dict) --------------------------------


def test_rendering_inside_models_and_env_var_names() -> None:
    op = KubernetesPodOperator(
        task_id="t",
        image="busybox:{{ params.tag }}",
        env_vars={"OUT_{{ ds_nodash }}": "{{ ds }}"},
        volumes=[
            k8s.V1Volume(
                name="cm-{{ ds_nodash }}", config_map=k8s.V1ConfigMapVolumeSource(name="cfg-{{ ds_nodash }}")
            )
        ],
        volume_mounts=[k8s.V1VolumeMount(name="cm-{{ ds_nodash }}", mount_path="/cfg", sub_path="{{ ds }}")],
        container_resources=k8s.V1ResourceRequirements(limits={"memory": "{{ params.memory }}"}),
        env_from=[k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name="env-{{ ds_nodash }}"))],
        labels={"day": "{{ ds_nodash }}"},
        node_selector={"pool": "{{ params.pool }}"},
        params={"tag": "1.36", "memory": "64Mi", "pool": "batch"},
    )
    context: dict[str, Any] = {"ds": "2024-03-05", "ds_nodash": "20240305", "params": op.params}
    op.render_template_fields(context)  # type: ignore[arg-type]
    pod = op.build_pod_manifest()
    container = pod["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["env"] == [{"name": "OUT_20240305", "value": "2024-03-05"}]
    assert container["volumeMounts"] == [
        {"mountPath": "/cfg", "name": "cm-20240305", "subPath": "2024-03-05"}
    ]
    assert container["resources"] == {"limits": {"memory": "64Mi"}}
    assert container["envFrom"] == [{"configMapRef": {"name": "env-20240305"}}]
    assert pod["spec"]["volumes"] == [{"configMap": {"name": "cfg-20240305"}, "name": "cm-20240305"}]
    assert pod["metadata"]["labels"]["day"] == "20240305"
    assert pod["spec"]["nodeSelector"] == {"pool": "batch"}


def test_a_subclass_can_change_the_base_container_name() -> None:
    class Main(KubernetesPodOperator):
        BASE_CONTAINER_NAME = "main"

    pod = Main(task_id="t", image="busybox").build_pod_manifest()
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main"]
    assert Main(task_id="t2").container_logs == "main"


def test_dry_run_works_with_a_connection_that_is_not_defined(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from airflow_provider_k8spod.exceptions import ConnectionConfigError

    op = KubernetesPodOperator(task_id="t", image="busybox", kubernetes_conn_id="no_such_connection")
    op.dry_run()
    assert yaml.safe_load(capsys.readouterr().out)["metadata"]["namespace"] == "default"
    # Building for a real task instance needs the connection it names.
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    with pytest.raises(ConnectionConfigError, match="'no_such_connection' is not defined"):
        op.build_pod_manifest({"ti": ti})


def test_dry_run_shows_unrendered_templates_but_a_real_build_checks_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from types import SimpleNamespace

    op = KubernetesPodOperator(
        task_id="t",
        image="busybox",
        name="job-{{ ds_nodash }}",
        labels={"day": "{{ ds_nodash }}"},
        container_resources={"limits": {"memory": "{{ params.memory }}"}},
        secrets=[operator_module_secret("env", "API_TOKEN", "api-credentials", "token")],
    )
    op.dry_run()
    pod = yaml.safe_load(capsys.readouterr().out)
    assert pod["metadata"]["labels"]["day"] == "{{ ds_nodash }}"
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"memory": "{{ params.memory }}"}}
    # Field names like secretKeyRef do not hide the (non-secret) name of the Secret.
    assert pod["spec"]["containers"][0]["env"] == [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-credentials", "key": "token"}}}
    ]
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    with pytest.raises(PodSpecError, match="contains"):
        op.build_pod_manifest({"ti": ti})


def operator_module_secret(*args: Any) -> Any:
    from airflow_provider_k8spod.secret import Secret

    return Secret(*args)
