"""The operator's contact points with Airflow itself: configuration defaults, deprecation warnings, the
cluster policy ``pod_mutation_hook``, and masking secrets in what is shown to users."""

from __future__ import annotations

from typing import Any

from airflow_provider_k8spod.pod.identity import safe_label_value
from airflow_provider_k8spod.pod.normalize import null_quantities, restore_null_quantities, to_api, to_model
from airflow_provider_k8spod.pod.validation import validate_pod

__all__ = [
    "airflow_version_label",
    "apply_pod_mutation_hook",
    "default_deferrable",
    "deprecation_warning",
    "redact",
]


def default_deferrable() -> bool:
    try:
        from airflow.sdk.configuration import conf

        return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
    except Exception:  # pragma: no cover - configuration unavailable
        return False


def deprecation_warning() -> type[Warning]:
    try:
        from airflow.exceptions import AirflowProviderDeprecationWarning

        return AirflowProviderDeprecationWarning
    except ImportError:  # pragma: no cover
        return DeprecationWarning


def airflow_version_label() -> str:
    try:
        from airflow import __version__ as version
    except ImportError:  # pragma: no cover
        version = "unknown"
    return safe_label_value(str(version).replace("+", "-"))


def apply_pod_mutation_hook(pod: dict[str, Any]) -> dict[str, Any]:
    """Let the cluster policy ``pod_mutation_hook`` (``airflow_local_settings``) change the pod, as upstream."""
    try:
        from airflow.settings import pod_mutation_hook
    except ImportError:  # pragma: no cover - no Airflow core on this worker
        return pod
    if not _has_custom_pod_mutation_hook():
        return pod
    nulls = null_quantities(pod)
    model = to_model(pod, "V1Pod")
    pod_mutation_hook(model)
    mutated: dict[str, Any] = to_api(model, "V1Pod", "pod_mutation_hook result")
    # kubernetes 37's models cannot hold a None quantity: keep those the hook did not replace.
    restore_null_quantities(mutated, nulls)
    validate_pod(mutated)
    return mutated


def _has_custom_pod_mutation_hook() -> bool:
    try:
        from airflow.policies import hookimpl  # noqa: F401
        from airflow.settings import get_policy_plugin_manager
    except ImportError:  # pragma: no cover
        return True
    manager = get_policy_plugin_manager()
    implementations = manager.hook.pod_mutation_hook.get_hookimpls()
    return any(impl.plugin_name != "DefaultPolicy" for impl in implementations)


def redact(pod: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``pod`` fit for printing: sensitive env values and registered secrets masked.

    Only values are masked: an env var whose name looks sensitive (``DB_PASSWORD``), and any string that
    contains a value registered with Airflow's secrets masker. Field names such as ``secretKeyRef`` do not
    hide what is below them (a Secret's name is no secret), unlike a plain ``redact()`` of the whole pod.
    """
    try:
        from airflow.sdk._shared.secrets_masker import redact as mask
        from airflow.sdk._shared.secrets_masker import should_hide_value_for_key
    except ImportError:  # pragma: no cover
        return pod

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return mask(value)
        return value

    shown: dict[str, Any] = walk(pod)
    spec = shown.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            for env in container.get("env") or []:
                if "value" in env and should_hide_value_for_key(env.get("name", "")):
                    env["value"] = "***"
                elif str(env.get("name", "")).startswith("__PYTHON_") and len(env.get("value") or "") > 80:
                    # @task.kubernetes' function source and pickled arguments (up to 1 MiB of base64).
                    env["value"] = f"<{len(env['value'])} characters of base64>"
    return shown
