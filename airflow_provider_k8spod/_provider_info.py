"""The provider's metadata, kept apart so that importing the package stays cheap.

The connection form is generated from the extras the hook actually reads
(:data:`airflow_provider_k8spod.hooks.connection.EXTRA_FIELDS`), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

DISTRIBUTION_NAME = "airflow-provider-k8spod"
INTEGRATION = "Kubernetes Pods (k8spod)"

HOOK_MODULES = ["airflow_provider_k8spod.hooks.kubernetes"]
OPERATOR_MODULES = ["airflow_provider_k8spod.operators.pod"]
TRIGGER_MODULES = ["airflow_provider_k8spod.triggers.pod"]

#: ``@task.<name>`` decorators. ``kubernetes`` and ``kubernetes_cmd`` are upstream's names (a DAG migrates
#: unchanged); ``k8spod`` and ``k8spod_cmd`` always mean this provider's, even with upstream installed too
#: (Airflow keeps the first provider registering a name, in package name order: see docs/decorators.md).
TASK_DECORATORS = {
    "kubernetes": "airflow_provider_k8spod.decorators.kubernetes.kubernetes_task",
    "kubernetes_cmd": "airflow_provider_k8spod.decorators.kubernetes_cmd.kubernetes_cmd_task",
    "k8spod": "airflow_provider_k8spod.decorators.kubernetes.kubernetes_task",
    "k8spod_cmd": "airflow_provider_k8spod.decorators.kubernetes_cmd.kubernetes_cmd_task",
}

#: ``airflow k8spod ...`` (``cleanup-pods``): functions returning Airflow CLI command groups.
CLI_COMMANDS = ["airflow_provider_k8spod.cli.definition.get_cli_commands"]

_SCHEMA_TYPES = {"bool": "boolean", "str": "string", "text": "string", "secret": "string", "json": "string"}


def connection_fields() -> dict[str, Any]:
    """``conn-fields`` of the connection type: one entry per extra the hook reads."""
    from airflow_provider_k8spod.hooks.fields import EXTRA_FIELDS, XCOM_TRANSPORTS

    fields: dict[str, Any] = {}
    for name, (kind, label, description) in EXTRA_FIELDS.items():
        schema: dict[str, Any] = {"type": [_SCHEMA_TYPES[kind], "null"]}
        if kind == "secret":
            schema["format"] = "password"
        if kind == "text":
            schema["format"] = "multiline"
        if kind == "bool":
            schema["default"] = False
        if name == "xcom_transport":
            schema["enum"] = [*XCOM_TRANSPORTS, None]
            # The UI names each choice from this map (it looks None up as "null"), not by its raw value.
            schema["values_display"] = {
                **XCOM_TRANSPORTS,
                "null": "not set: the operator's argument, else sidecar",
            }
        fields[name] = {"label": label, "description": description, "schema": schema}
    return fields


def provider_info() -> dict[str, Any]:
    from airflow_provider_k8spod import __version__
    from airflow_provider_k8spod.hooks.fields import CONN_TYPE

    info: dict[str, Any] = {
        "package-name": DISTRIBUTION_NAME,
        "name": INTEGRATION,
        "description": "Run Airflow tasks as Kubernetes pods: operator, sync and async hooks, deferrable "
        "trigger, and a local cluster for tests.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://kubernetes.io/docs/concepts/workloads/pods/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": HOOK_MODULES}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": OPERATOR_MODULES}],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_k8spod.hooks.kubernetes.KubernetesHook",
                "hook-name": "Kubernetes Pods (k8spod)",
                "conn-fields": connection_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "API server URL", "password": "Bearer token"},
                    "placeholders": {
                        "host": "https://my-cluster.example.com:6443 (leave empty to use a kubeconfig)",
                        "password": "service-account token (only with API server URL)",
                    },
                },
            }
        ],
    }
    info["cli"] = CLI_COMMANDS
    info["task-decorators"] = [{"class-name": path, "name": name} for name, path in TASK_DECORATORS.items()]
    if TRIGGER_MODULES:
        info["triggers"] = [{"integration-name": INTEGRATION, "python-modules": TRIGGER_MODULES}]
    return info
