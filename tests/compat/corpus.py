"""The differential corpus: operator argument sets that upstream's ``KubernetesPodOperator`` accepts.

This module is imported by two interpreters: ours (tests/compat/test_differential.py) and the upstream
virtualenv's (tests/compat/upstream_build.py). It must therefore import nothing but the standard library:
the ``kubernetes.client`` models module and the ``Secret`` class of the operator under test are passed in.

:func:`cases` ``(k8s, Secret, workdir) -> list[Case]`` returns fresh cases (models are mutable and the
operators mutate some arguments). ``workdir`` is where template files are written.

A case is a dict:

- ``id``: unique, stable.
- ``kwargs``: operator keyword arguments (``task_id`` is ``"task"`` unless given).
- ``expand``: when given, the task is ``partial(**kwargs).expand(**expand)``, built for the context's map index.
- ``default_args``: the DAG's ``default_args``.
- ``context``: overrides of the task instance (``dag_id``, ``task_id``, ``run_id``, ``map_index``,
  ``try_number``); the DAG id is ``dag_id`` (default ``"compat"``).
- ``params``: the DAG's params, for templates.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

Case = dict[str, Any]

TEMPLATE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "from-template", "labels": {"origin": "template"}, "annotations": {"a": "1"}},
    "spec": {
        "hostNetwork": True,
        "serviceAccountName": "template-sa",
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoSchedule"}],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "containers": [
            {
                "name": "base",
                "image": "template-image:1",
                "command": ["run"],
                "env": [{"name": "FROM_TEMPLATE", "value": "yes"}],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                "resources": {"limits": {"memory": "1Gi"}},
            }
        ],
    },
}


def _template(name: str = "base", **spec: Any) -> dict[str, Any]:
    pod = json.loads(json.dumps(TEMPLATE))
    pod["spec"]["containers"][0]["name"] = name
    pod["spec"].update(spec)
    return pod


def cases(k8s: Any, Secret: Any, workdir: Path) -> list[Case]:
    """Every case, built fresh."""
    workdir.mkdir(parents=True, exist_ok=True)

    def template_file(name: str, manifest: dict[str, Any]) -> str:
        path = workdir / f"{name}.yaml"
        path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")  # JSON is YAML
        return str(path)

    image = {"image": "busybox:1.36"}
    out: list[Case] = []

    def add(case_id: str, kwargs: dict[str, Any], **extra: Any) -> None:
        out.append({"id": case_id, "kwargs": kwargs, **extra})

    # --- one argument at a time -----------------------------------------------------------------------
    add("minimal", {**image})
    add("cmds_arguments", {**image, "cmds": ["sh", "-c"], "arguments": ["echo hi"]})
    add("cmds_only", {**image, "cmds": ["true"]})
    add("arguments_only", {**image, "arguments": ["--verbose"]})
    add("env_vars_dict", {**image, "env_vars": {"A": "1", "B": "two"}})
    add("env_vars_models", {**image, "env_vars": [k8s.V1EnvVar(name="A", value="1")]})
    add(
        "env_vars_value_from",
        {
            **image,
            "env_vars": [
                k8s.V1EnvVar(
                    name="POD",
                    value_from=k8s.V1EnvVarSource(
                        field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name")
                    ),
                )
            ],
        },
    )
    add("env_vars_list_of_dicts", {**image, "env_vars": [{"name": "A", "value": "1"}]})
    add(
        "pod_runtime_info_envs",
        {
            **image,
            "pod_runtime_info_envs": [
                k8s.V1EnvVar(
                    name="NODE",
                    value_from=k8s.V1EnvVarSource(
                        field_ref=k8s.V1ObjectFieldSelector(field_path="spec.nodeName")
                    ),
                )
            ],
        },
    )
    add(
        "env_vars_and_runtime_info",
        {
            **image,
            "env_vars": {"A": "1"},
            "pod_runtime_info_envs": [
                k8s.V1EnvVar(
                    name="IP",
                    value_from=k8s.V1EnvVarSource(
                        field_ref=k8s.V1ObjectFieldSelector(field_path="status.podIP")
                    ),
                )
            ],
        },
    )
    add(
        "env_from_models",
        {**image, "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="creds"))]},
    )
    add("configmaps", {**image, "configmaps": ["cm-a", "cm-b"]})
    add(
        "env_from_and_configmaps",
        {
            **image,
            "env_from": [k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name="first"))],
            "configmaps": ["second"],
        },
    )
    add("ports_models", {**image, "ports": [k8s.V1ContainerPort(container_port=8080, name="http")]})
    add(
        "ports_udp",
        {**image, "ports": [k8s.V1ContainerPort(container_port=53, protocol="UDP", name="dns")]},
    )
    add(
        "volumes_and_mounts_models",
        {
            **image,
            "volumes": [k8s.V1Volume(name="data", empty_dir=k8s.V1EmptyDirVolumeSource())],
            "volume_mounts": [k8s.V1VolumeMount(name="data", mount_path="/data")],
        },
    )
    add(
        "volume_pvc_read_only",
        {
            **image,
            "volumes": [
                k8s.V1Volume(
                    name="pvc",
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="claim"),
                )
            ],
            "volume_mounts": [k8s.V1VolumeMount(name="pvc", mount_path="/pvc", read_only=True, sub_path="x")],
        },
    )
    add(
        "volume_configmap_items",
        {
            **image,
            "volumes": [
                k8s.V1Volume(
                    name="cfg",
                    config_map=k8s.V1ConfigMapVolumeSource(
                        name="cm", items=[k8s.V1KeyToPath(key="k", path="p")], default_mode=0o644
                    ),
                )
            ],
            "volume_mounts": [k8s.V1VolumeMount(name="cfg", mount_path="/etc/cfg")],
        },
    )
    add("image_pull_policy", {**image, "image_pull_policy": "Always"})
    add(
        "container_resources_dict",
        {**image, "container_resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
    )
    add(
        "container_resources_model",
        {
            **image,
            "container_resources": k8s.V1ResourceRequirements(
                requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "128Mi"}
            ),
        },
    )
    add(
        "container_resources_null_gpu", {**image, "container_resources": {"limits": {"nvidia.com/gpu": None}}}
    )
    add(
        "container_security_context_model",
        {
            **image,
            "container_security_context": k8s.V1SecurityContext(
                run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=True
            ),
        },
    )
    add(
        "container_security_context_dict",
        {**image, "container_security_context": {"runAsUser": 1000, "privileged": False}},
    )
    add("termination_message_policy", {**image, "termination_message_policy": "FallbackToLogsOnError"})
    add("base_container_name", {**image, "base_container_name": "main"})
    add("labels", {**image, "labels": {"team": "data", "tier": "batch"}})
    add("labels_unsafe_value", {**image, "labels": {"owner": "a/b c"}})
    add("annotations", {**image, "annotations": {"example.com/owner": "data-team", "note": "free text"}})
    add("namespace", {**image, "namespace": "etl"})
    add("name", {**image, "name": "my-pod"})
    add("name_normalized", {**image, "name": "My_Pod.Name"})
    add("name_long", {**image, "name": "n" * 100})
    add("name_no_suffix", {**image, "name": "fixed-name", "random_name_suffix": False})
    add("task_id_only_no_suffix", {**image, "random_name_suffix": False})
    add("long_task_id", {**image, "task_id": "t" * 80})
    add("task_id_with_dots", {**image, "task_id": "group.sub_task"})
    add(
        "init_containers_models",
        {
            **image,
            "init_containers": [
                k8s.V1Container(name="init", image="busybox:1.36", command=["sh", "-c", "echo init"])
            ],
        },
    )
    add(
        "init_containers_with_env",
        {
            **image,
            "init_containers": [
                k8s.V1Container(name="init", image="busybox:1.36", env=[k8s.V1EnvVar(name="X", value="1")])
            ],
        },
    )
    add("image_pull_secrets_string", {**image, "image_pull_secrets": "regcred"})
    add("image_pull_secrets_comma_string", {**image, "image_pull_secrets": "one,two"})
    add(
        "image_pull_secrets_models",
        {**image, "image_pull_secrets": [k8s.V1LocalObjectReference(name="regcred")]},
    )
    add("service_account_name", {**image, "service_account_name": "runner"})
    add("automount_token_false", {**image, "automount_service_account_token": False})
    add("automount_token_true", {**image, "automount_service_account_token": True})
    add("hostnetwork_true", {**image, "hostnetwork": True})
    add("hostnetwork_false", {**image, "hostnetwork": False})
    add(
        "host_aliases",
        {**image, "host_aliases": [k8s.V1HostAlias(ip="10.0.0.1", hostnames=["db.local"])]},
    )
    add("dnspolicy", {**image, "dnspolicy": "ClusterFirstWithHostNet", "hostnetwork": True})
    add(
        "dns_config",
        {
            **image,
            "dnspolicy": "None",
            "dns_config": k8s.V1PodDNSConfig(nameservers=["1.1.1.1"], searches=["svc.local"]),
        },
    )
    add("hostname_subdomain", {**image, "hostname": "worker", "subdomain": "jobs"})
    add("priority_class_name", {**image, "priority_class_name": "high"})
    add("runtime_class_name", {**image, "runtime_class_name": "gvisor"})
    add("schedulername", {**image, "schedulername": "custom-scheduler"})
    add("active_deadline_seconds", {**image, "active_deadline_seconds": 600})
    add("termination_grace_period", {**image, "termination_grace_period": 30})
    add("termination_grace_period_zero", {**image, "termination_grace_period": 0})
    add("node_selector", {**image, "node_selector": {"kubernetes.io/os": "linux"}})
    add(
        "affinity_dict",
        {
            **image,
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            },
        },
    )
    add(
        "affinity_model",
        {
            **image,
            "affinity": k8s.V1Affinity(
                pod_anti_affinity=k8s.V1PodAntiAffinity(
                    preferred_during_scheduling_ignored_during_execution=[
                        k8s.V1WeightedPodAffinityTerm(
                            weight=10,
                            pod_affinity_term=k8s.V1PodAffinityTerm(
                                topology_key="kubernetes.io/hostname",
                                label_selector=k8s.V1LabelSelector(match_labels={"app": "x"}),
                            ),
                        )
                    ]
                )
            ),
        },
    )
    add(
        "tolerations_dicts",
        {**image, "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    )
    add(
        "tolerations_models",
        {
            **image,
            "tolerations": [
                k8s.V1Toleration(key="spot", operator="Equal", value="true", effect="NoExecute"),
                k8s.V1Toleration(operator="Exists"),
            ],
        },
    )
    add(
        "security_context_model",
        {**image, "security_context": k8s.V1PodSecurityContext(run_as_user=1000, fs_group=2000)},
    )
    add("security_context_dict", {**image, "security_context": {"runAsNonRoot": True}})
    add("do_xcom_push", {**image, "do_xcom_push": True})
    add(
        "do_xcom_push_sidecar_security_context",
        {**image, "do_xcom_push": True, "xcom_sidecar_container_security_context": {"runAsUser": 1000}},
    )
    add(
        "do_xcom_push_with_mounts",
        {
            **image,
            "do_xcom_push": True,
            "volumes": [k8s.V1Volume(name="data", empty_dir=k8s.V1EmptyDirVolumeSource())],
            "volume_mounts": [k8s.V1VolumeMount(name="data", mount_path="/data")],
        },
    )

    # --- secrets ------------------------------------------------------------------------------------------
    add("secret_env", {**image, "secrets": [Secret("env", "PASSWORD", "db", "password")]})
    add("secret_env_all", {**image, "secrets": [Secret("env", None, "db")]})
    add("secret_volume", {**image, "secrets": [Secret("volume", "/etc/db", "db")]})
    add("secret_volume_key", {**image, "secrets": [Secret("volume", "/etc/db", "db", "password")]})
    add(
        "secrets_mixed",
        {**image, "secrets": [Secret("env", "USER", "db", "user"), Secret("volume", "/etc/tls", "tls")]},
    )

    # --- many arguments together -----------------------------------------------------------------------
    everything = {
        **image,
        "namespace": "etl",
        "name": "everything",
        "cmds": ["python", "-c"],
        "arguments": ["print(1)"],
        "env_vars": {"A": "1"},
        "labels": {"team": "data"},
        "annotations": {"note": "x"},
        "ports": [k8s.V1ContainerPort(container_port=80)],
        "volumes": [k8s.V1Volume(name="v", empty_dir=k8s.V1EmptyDirVolumeSource())],
        "volume_mounts": [k8s.V1VolumeMount(name="v", mount_path="/v")],
        "image_pull_policy": "IfNotPresent",
        "container_resources": k8s.V1ResourceRequirements(limits={"cpu": "1"}),
        "service_account_name": "runner",
        "node_selector": {"pool": "batch"},
        "tolerations": [k8s.V1Toleration(key="batch", operator="Exists")],
        "priority_class_name": "low",
        "termination_grace_period": 10,
        "active_deadline_seconds": 100,
        "image_pull_secrets": "regcred",
        "configmaps": ["cm"],
    }
    add("everything", everything)
    add("everything_xcom", {**everything, "do_xcom_push": True, "name": "everything-xcom"})

    # --- templates (Jinja) ----------------------------------------------------------------------------------
    add(
        "jinja_image_and_cmds",
        {"image": "busybox:{{ params.tag }}", "cmds": ["echo", "{{ ds }}"]},
        params={"tag": "1.36"},
    )
    add("jinja_arguments_run_id", {**image, "arguments": ["{{ run_id }}", "{{ ti.task_id }}"]})
    add("jinja_env_vars", {**image, "env_vars": {"DAY": "{{ ds }}", "RUN": "{{ run_id }}"}})
    add(
        "jinja_labels_annotations",
        {**image, "labels": {"day": "{{ ds_nodash }}"}, "annotations": {"run": "{{ run_id }}"}},
    )
    add(
        "jinja_namespace_name",
        {**image, "namespace": "{{ params.ns }}", "name": "job-{{ ds_nodash }}"},
        params={"ns": "tenant-a"},
    )
    add(
        "jinja_node_selector",
        {**image, "node_selector": {"pool": "{{ params.pool }}"}},
        params={"pool": "gpu"},
    )
    add("jinja_configmaps", {**image, "configmaps": ["cm-{{ params.env }}"]}, params={"env": "prod"})
    add(
        "jinja_container_resources",
        {**image, "container_resources": {"limits": {"memory": "{{ params.mem }}"}}},
        params={"mem": "2Gi"},
    )
    add(
        "jinja_volume_mounts",
        {
            **image,
            "volumes": [k8s.V1Volume(name="d", empty_dir=k8s.V1EmptyDirVolumeSource())],
            "volume_mounts": [k8s.V1VolumeMount(name="d", mount_path="/data/{{ params.sub }}")],
        },
        params={"sub": "x"},
    )
    add(
        "jinja_base_container_name",
        {**image, "base_container_name": "{{ params.c }}"},
        params={"c": "worker"},
    )
    add("jinja_hostname", {**image, "hostname": "host-{{ params.h }}"}, params={"h": "a"})
    add(
        "jinja_env_from",
        {
            **image,
            "env_from": [
                k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name="{{ params.cm }}"))
            ],
        },
        params={"cm": "settings"},
    )

    # --- manifests --------------------------------------------------------------------------------------
    add("template_file_only", {"pod_template_file": template_file("only", _template())})
    add(
        "template_file_image_override",
        {"pod_template_file": template_file("img", _template()), "image": "override:2"},
    )
    add(
        "template_file_cmds_env",
        {
            "pod_template_file": template_file("cmdenv", _template()),
            "cmds": ["other"],
            "env_vars": {"X": "1"},
        },
    )
    add(
        "template_file_labels_namespace",
        {"pod_template_file": template_file("lbl", _template()), "labels": {"team": "a"}, "namespace": "ns1"},
    )
    add(
        "template_file_hostnetwork_false",
        {"pod_template_file": template_file("hostnet", _template()), "hostnetwork": False},
    )
    add(
        "template_file_node_selector_arg",
        {"pod_template_file": template_file("nodesel", _template()), "node_selector": {"pool": "b"}},
    )
    add(
        "template_file_tolerations_arg",
        {
            "pod_template_file": template_file("tol", _template()),
            "tolerations": [k8s.V1Toleration(key="extra", operator="Exists")],
        },
    )
    add(
        "template_file_volumes_arg",
        {
            "pod_template_file": template_file("vol", _template()),
            "volumes": [k8s.V1Volume(name="more", empty_dir=k8s.V1EmptyDirVolumeSource())],
            "volume_mounts": [k8s.V1VolumeMount(name="more", mount_path="/more")],
        },
    )
    add("template_file_name_arg", {"pod_template_file": template_file("nm", _template()), "name": "arg-name"})
    add("template_file_xcom", {"pod_template_file": template_file("xc", _template()), "do_xcom_push": True})
    add(
        "template_file_resources_arg",
        {
            "pod_template_file": template_file("res", _template()),
            "container_resources": k8s.V1ResourceRequirements(limits={"cpu": "2"}),
        },
    )
    add(
        "template_file_two_containers",
        {
            "pod_template_file": template_file(
                "two",
                {
                    **_template(),
                    "spec": {
                        **_template()["spec"],
                        "containers": [
                            _template()["spec"]["containers"][0],
                            {"name": "sidecar", "image": "proxy:1"},
                        ],
                    },
                },
            ),
            "env_vars": {"X": "1"},
        },
    )
    add(
        "template_file_no_name",
        {"pod_template_file": template_file("noname", {**_template(), "metadata": {}})},
    )
    add(
        "template_file_other_container_name",
        {"pod_template_file": template_file("othername", _template("main")), "image": "override:3"},
    )
    add(
        "template_file_other_container_name_matching",
        {"pod_template_file": template_file("othername2", _template("main")), "base_container_name": "main"},
    )
    add("template_dict", {"pod_template_dict": _template()})
    add("template_dict_with_args", {"pod_template_dict": _template(), "image": "x:1", "labels": {"l": "v"}})
    add(
        "template_dict_init_containers",
        {
            "pod_template_dict": _template(initContainers=[{"name": "prep", "image": "busybox:1.36"}]),
        },
    )
    add(
        "full_pod_spec_model",
        {
            "full_pod_spec": k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name="full", labels={"kind": "full"}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="base", image="full:1", command=["go"])]),
            )
        },
    )
    add(
        "full_pod_spec_model_with_args",
        {
            "full_pod_spec": k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name="full"),
                spec=k8s.V1PodSpec(
                    containers=[k8s.V1Container(name="base", image="full:1")],
                    service_account_name="full-sa",
                ),
            ),
            "cmds": ["run"],
            "env_vars": {"A": "b"},
        },
    )
    add(
        "template_file_plus_full_pod_spec",
        {
            "pod_template_file": template_file("tfull", _template()),
            "full_pod_spec": k8s.V1Pod(
                spec=k8s.V1PodSpec(
                    containers=[k8s.V1Container(name="base", image="full-over-template:1")],
                    priority_class_name="from-full",
                )
            ),
        },
    )
    add(
        "template_dict_plus_full_pod_spec",
        {
            "pod_template_dict": _template(),
            "full_pod_spec": k8s.V1Pod(metadata=k8s.V1ObjectMeta(labels={"extra": "full"})),
        },
    )

    add(
        "template_file_image_pull_secrets_arg",
        {
            "pod_template_file": template_file(
                "ips", _template(imagePullSecrets=[{"name": "from-template"}])
            ),
            "image_pull_secrets": "from-argument",
        },
    )
    add(
        "template_file_host_aliases_arg",
        {
            "pod_template_file": template_file(
                "ha", _template(hostAliases=[{"ip": "10.0.0.9", "hostnames": ["t"]}])
            ),
            "host_aliases": [k8s.V1HostAlias(ip="10.0.0.1", hostnames=["a"])],
        },
    )
    add(
        "template_file_automount_false",
        {
            "pod_template_file": template_file("am", _template(automountServiceAccountToken=True)),
            "automount_service_account_token": False,
        },
    )
    fallback = _template()
    fallback["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    add("template_file_termination_policy", {"pod_template_file": template_file("tmp", fallback)})

    # --- mapped tasks, tries, default_args ------------------------------------------------------------
    add("mapped_index_0", {**image}, context={"map_index": 0})
    add("mapped_index_7", {**image, "arguments": ["{{ ti.map_index }}"]}, context={"map_index": 7})
    add("mapped_with_name", {**image, "name": "mapped"}, context={"map_index": 3})
    add(
        "expand_arguments",
        {**image, "cmds": ["echo"]},
        expand={"arguments": [["first"], ["second", "{{ ds }}"]]},
        context={"map_index": 1},
    )
    add(
        "expand_env_vars_and_labels",
        {**image, "labels": {"team": "data"}},
        expand={"env_vars": [{"A": "1"}, {"A": "2", "B": "3"}]},
        context={"map_index": 0},
    )
    add(
        "expand_with_default_args",
        {"cmds": ["run"]},
        expand={"image": ["a:1", "b:2", "c:3"]},
        default_args={"namespace": "from-defaults", "node_selector": {"pool": "mapped"}},
        context={"map_index": 2},
    )
    add(
        "expand_name_and_template",
        {"pod_template_dict": _template()},
        expand={"name": ["one", "two"]},
        context={"map_index": 1},
    )
    add("retry_try_3", {**image}, context={"try_number": 3})
    add("scheduled_run_id", {**image}, context={"run_id": "scheduled__2024-01-01T00:00:00+00:00"})
    add("long_dag_id", {**image}, dag_id="d" * 70)
    add("dag_id_with_dots", {**image}, dag_id="sales.daily")
    add("default_args_image", {}, default_args={"image": "from-default-args:1"})
    add(
        "default_args_namespace_labels",
        {**image, "labels": {"own": "x"}},
        default_args={"namespace": "from-defaults", "labels": {"default": "y"}},
    )
    add("default_args_hostnetwork", {**image}, default_args={"hostnetwork": True})
    add(
        "default_args_overridden",
        {**image, "service_account_name": "explicit"},
        default_args={"service_account_name": "default-sa", "node_selector": {"a": "b"}},
    )
    add("default_args_xcom", {**image}, default_args={"do_xcom_push": True})
    # execution_timeout: ours gives the pod activeDeadlineSeconds (allowlisted), unless one is given.
    add("execution_timeout", {**image, "execution_timeout": datetime.timedelta(minutes=30)})
    add(
        "default_args_execution_timeout",
        {**image},
        default_args={"execution_timeout": datetime.timedelta(hours=2)},
    )
    add(
        "execution_timeout_and_active_deadline",
        {**image, "execution_timeout": datetime.timedelta(minutes=30), "active_deadline_seconds": 600},
    )

    # --- errors both must raise -----------------------------------------------------------------------
    add("error_name_too_long", {**image, "name": "a" * 221})
    add("name_220_ok", {**image, "name": "a" * 220})

    ids = [c["id"] for c in out]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return out
