"""Operator arguments + raw manifest -> one validated pod (a canonical camelCase dict). Pure: no cluster.

The one precedence rule (docs/pod-spec.md has the full table):

1. **Manifest first.** ``pod_template_file`` (a path) or ``pod_template_dict`` (a dict, a model, or YAML/JSON
   text) is the base; giving both is an error. ``full_pod_spec`` (a ``V1Pod``, a dict or YAML/JSON text) is
   laid over it with :func:`merge_pods` (objects merge field by field, containers merge by name, named
   lists merge by their key, anything else from ``full_pod_spec`` wins).
2. **Then every argument the user passed** (explicitly, through ``default_args``, ``partial`` or ``expand``)
   overrides, ``False``, ``0``, ``""``, ``[]`` and ``{}`` included; an argument that was not passed changes
   nothing. ``None`` always means "not passed". Scalars and objects replace the manifest's field (an empty
   object or list removes it); labels and annotations merge key by key; lists of named things merge by
   name (env by name, volumes by name, volumeMounts by mountPath, ports by containerPort+protocol, init
   containers by name, image pull secrets by name, host aliases by ip; tolerations, envFrom and configmaps
   are appended without duplicates). Lists are never merged by position.
3. The **main container** is the container named ``base_container_name`` (default ``"base"``) if the manifest
   has one, else the manifest's first container, else a new container of that name. Container arguments
   (image, cmds, env_vars, ...) apply to it. Its name is recorded in the annotation
   ``kubectl.kubernetes.io/default-container`` (:func:`main_container_name` reads it back).
4. ``restartPolicy`` is ``Never`` unless the manifest says ``OnFailure``; ``Always`` is an error (the pod
   would never finish). Namespace: argument > manifest > ``default_namespace`` (the caller resolves the
   connection extra, the in-cluster namespace file and ``"default"`` into it).
5. ``activeDeadlineSeconds``: the argument, else the manifest's, else the one derived from
   ``execution_timeout`` (annotated :data:`ACTIVE_DEADLINE_SOURCE_ANNOTATION`), else none.
6. Name, identity labels and annotations (:mod:`airflow_provider_k8spod.pod.identity`), the fields upstream
   always sets filled in where still absent (empty lists and maps, see
   :data:`UPSTREAM_EMPTY_SPEC_FIELDS`), then the XCom sidecar
   (:mod:`airflow_provider_k8spod.pod.xcom`), then validation (:mod:`airflow_provider_k8spod.pod.validation`).

Public API:

- :func:`build_pod` ``(arguments, *, task_id, dag_id=None, identity=None, default_namespace="default",
  xcom_sidecar=None, extra_labels=None) -> dict``
- :func:`load_manifest` ``(arguments) -> dict | None``; :func:`canonical_manifest` ``(data, source) -> dict``
- :func:`merge_pods` ``(base, overlay) -> dict``
- :func:`main_container_name` ``(pod) -> str``; :data:`DEFAULT_CONTAINER_ANNOTATION`
- :func:`pod_to_yaml` ``(pod) -> str``; :data:`POD_ARGUMENTS`
"""

from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.identity import (
    ACTIVE_DEADLINE_SOURCE_ANNOTATION,
    IDENTITY_LABEL_KEYS,
    TaskIdentity,
    identity_annotations,
    identity_labels,
    normalize_pod_name,
    pod_name,
)
from airflow_provider_k8spod.pod.normalize import field_path, is_model, parse_manifest_text, to_api
from airflow_provider_k8spod.pod.validation import is_unrendered_template, validate_pod
from airflow_provider_k8spod.pod.xcom import (
    SidecarSettings,
    inject_xcom_logs,
    inject_xcom_sidecar,
    inject_xcom_termination_message,
)

__all__ = [
    "DEFAULT_BASE_CONTAINER_NAME",
    "DEFAULT_CONTAINER_ANNOTATION",
    "POD_ARGUMENTS",
    "build_pod",
    "canonical_manifest",
    "load_manifest",
    "main_container_name",
    "merge_pods",
    "pod_to_yaml",
]

DEFAULT_BASE_CONTAINER_NAME = "base"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_Key = Callable[[dict[str, Any]], Any]


def _by(field: str) -> _Key:
    return lambda item: item.get(field)


def _port_key(item: dict[str, Any]) -> Any:
    return (item.get("containerPort"), item.get("protocol") or "TCP")


#: Container arguments: argument -> (container field, OpenAPI type, how it combines with the manifest).
#: "replace": the value replaces the field ([] / {} remove it); ("merge", key): merge by key.
_CONTAINER_ARGS: dict[str, tuple[str, str, Any]] = {
    "image": ("image", "str", "replace"),
    "cmds": ("command", "List[str]", "replace"),
    "arguments": ("args", "List[str]", "replace"),
    "ports": ("ports", "List[V1ContainerPort]", ("merge", _port_key)),
    "volume_mounts": ("volumeMounts", "List[V1VolumeMount]", ("merge", _by("mountPath"))),
    "env_from": ("envFrom", "List[V1EnvFromSource]", "append"),
    "image_pull_policy": ("imagePullPolicy", "str", "replace"),
    "container_resources": ("resources", "V1ResourceRequirements", "replace"),
    "container_security_context": ("securityContext", "V1SecurityContext", "replace"),
    "termination_message_policy": ("terminationMessagePolicy", "str", "replace"),
}

#: Pod spec arguments, same shape as above.
_SPEC_ARGS: dict[str, tuple[str, str, Any]] = {
    "volumes": ("volumes", "List[V1Volume]", ("merge", _by("name"))),
    "init_containers": ("initContainers", "List[V1Container]", ("deep", _by("name"))),
    "service_account_name": ("serviceAccountName", "str", "replace"),
    "automount_service_account_token": ("automountServiceAccountToken", "bool", "replace"),
    "hostnetwork": ("hostNetwork", "bool", "replace"),
    "host_aliases": ("hostAliases", "List[V1HostAlias]", ("merge", _by("ip"))),
    "dnspolicy": ("dnsPolicy", "str", "replace"),
    "dns_config": ("dnsConfig", "V1PodDNSConfig", "replace"),
    "hostname": ("hostname", "str", "replace"),
    "subdomain": ("subdomain", "str", "replace"),
    "priority_class_name": ("priorityClassName", "str", "replace"),
    "runtime_class_name": ("runtimeClassName", "str", "replace"),
    "schedulername": ("schedulerName", "str", "replace"),
    "active_deadline_seconds": ("activeDeadlineSeconds", "int", "replace"),
    "termination_grace_period": ("terminationGracePeriodSeconds", "int", "replace"),
    "node_selector": ("nodeSelector", "Dict[str, str]", "replace"),
    "affinity": ("affinity", "V1Affinity", "replace"),
    "tolerations": ("tolerations", "List[V1Toleration]", "append"),
    "security_context": ("securityContext", "V1PodSecurityContext", "replace"),
}

_OTHER_ARGS = (
    "env_vars",
    "pod_runtime_info_envs",
    "configmaps",
    "secrets",
    "image_pull_secrets",
    "labels",
    "annotations",
    "namespace",
    "name",
    "random_name_suffix",
    "base_container_name",
    "pod_template_file",
    "pod_template_dict",
    "full_pod_spec",
)

#: Every operator argument that shapes the pod (upstream names).
POD_ARGUMENTS: frozenset[str] = frozenset(_CONTAINER_ARGS) | frozenset(_SPEC_ARGS) | frozenset(_OTHER_ARGS)

#: Lists merged by a key when a manifest is laid over another (:func:`merge_pods`); True = deep-merge
#: matched items, False = the overlay's item replaces the base's.
_MERGE_KEYS: dict[str, tuple[_Key, bool]] = {
    "containers": (_by("name"), True),
    "initContainers": (_by("name"), True),
    "ephemeralContainers": (_by("name"), True),
    "volumes": (_by("name"), False),
    "env": (_by("name"), False),
    "volumeMounts": (_by("mountPath"), False),
    "ports": (_port_key, False),
    "imagePullSecrets": (_by("name"), False),
    "hostAliases": (_by("ip"), False),
}
_APPEND_UNIQUE = {"tolerations", "envFrom"}

_SERVER_METADATA = {
    "uid",
    "resourceVersion",
    "resource_version",
    "creationTimestamp",
    "creation_timestamp",
    "deletionTimestamp",
    "deletion_timestamp",
    "deletionGracePeriodSeconds",
    "deletion_grace_period_seconds",
    "generation",
    "managedFields",
    "managed_fields",
    "selfLink",
    "self_link",
}


# ---------------------------------------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------------------------------------


def canonical_manifest(data: Any, source: str) -> dict[str, Any]:
    """A user's pod manifest (model, dict in either case, YAML/JSON text) as a canonical pod dict.

    ``source`` names the manifest in errors (``pod_template_file '/x.yaml'``, ``full_pod_spec``). A
    manifest whose ``kind`` is not ``Pod`` is an error; fields only the server sets (``status``, ``uid``,
    ``resourceVersion``, ``creationTimestamp``, ``managedFields``, ...) are dropped, so a pod exported with
    ``kubectl get pod -o yaml`` can serve as a template.
    """
    if isinstance(data, str):
        data = parse_manifest_text(data, source)
    elif is_model(data):
        data = to_api(data, "V1Pod", "")
    if not isinstance(data, Mapping):
        raise PodSpecError(f"{source}: expected a Pod manifest (a mapping), got {type(data).__name__}")
    data = dict(data)
    kind = data.get("kind")
    if kind is not None and kind != "Pod":
        hint = ""
        if kind in ("Deployment", "Job", "CronJob", "StatefulSet", "DaemonSet", "ReplicaSet", "PodTemplate"):
            hint = "; use the pod template inside it (its spec.template) as the manifest"
        raise PodSpecError(f"{source}: kind: expected a Pod manifest, got kind {kind!r}{hint}")
    api_version = data.get("apiVersion", data.get("api_version"))
    if api_version is not None and api_version != "v1":
        raise PodSpecError(f"{source}: apiVersion: expected 'v1' for a Pod, got {api_version!r}")
    data.pop("status", None)
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping):
        data["metadata"] = {k: v for k, v in metadata.items() if k not in _SERVER_METADATA}
    try:
        pod: dict[str, Any] = to_api(data, "V1Pod", "")
    except PodSpecError as exc:
        raise PodSpecError(f"{source}: {exc}") from None
    pod["apiVersion"] = "v1"
    pod["kind"] = "Pod"
    return pod


def load_manifest(arguments: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest the arguments describe (canonical), or None when none is given.

    Reads ``pod_template_file`` from the local disk (never from a cluster).
    """
    template_file = arguments.get("pod_template_file")
    template_dict = arguments.get("pod_template_dict")
    full_pod_spec = arguments.get("full_pod_spec")
    if template_file is not None and template_dict is not None:
        raise PodSpecError(
            "pod_template_file and pod_template_dict: both are given; pass only one template "
            "(full_pod_spec may be laid over either)"
        )
    base: dict[str, Any] | None = None
    if template_file is not None:
        source = f"pod_template_file {template_file!r}"
        if not isinstance(template_file, (str, os.PathLike)):
            raise PodSpecError(f"pod_template_file: expected a file path, got {type(template_file).__name__}")
        if isinstance(template_file, str) and (
            "\n" in template_file or template_file.lstrip().startswith("{")
        ):
            raise PodSpecError(
                "pod_template_file: expected a file path, got manifest text; pass YAML or JSON text as "
                "pod_template_dict instead"
            )
        try:
            with open(template_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise PodSpecError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
        base = canonical_manifest(text, source)
    elif template_dict is not None:
        base = canonical_manifest(template_dict, "pod_template_dict")
    if full_pod_spec is not None:
        overlay = canonical_manifest(full_pod_spec, "full_pod_spec")
        base = overlay if base is None else merge_pods(base, overlay)
    return base


def _merge_value(key: str, base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for k, v in overlay.items():
            merged[k] = _merge_value(k, base[k], v) if k in base else copy.deepcopy(v)
        return merged
    if isinstance(base, list) and isinstance(overlay, list):
        if key in _MERGE_KEYS:
            item_key, deep = _MERGE_KEYS[key]
            return _merge_keyed(base, overlay, item_key, deep=deep)
        if key in _APPEND_UNIQUE:
            return _append_unique(base, overlay)
    return copy.deepcopy(overlay)


def merge_pods(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Lay the canonical pod ``overlay`` over ``base`` (like a strategic merge patch).

    Objects merge field by field; containers, init containers, volumes, env, volume mounts, ports, image
    pull secrets and host aliases merge by their key (containers field by field, the others replaced
    whole); tolerations and envFrom are appended without duplicates; every other value of ``overlay`` wins.
    """
    merged = _merge_value("", base, overlay)
    assert isinstance(merged, dict)
    return merged


def _merge_keyed(existing: list[Any], new: list[Any], key: _Key, *, deep: bool = False) -> list[Any]:
    out = copy.deepcopy(existing)
    index = {key(item): i for i, item in enumerate(out) if isinstance(item, dict)}
    for item in new:
        k = key(item)
        if k is not None and k in index:
            i = index[k]
            out[i] = _merge_value("", out[i], item) if deep else copy.deepcopy(item)
        else:
            if k is not None:
                index[k] = len(out)
            out.append(copy.deepcopy(item))
    return out


def _append_unique(existing: list[Any], new: list[Any]) -> list[Any]:
    out = copy.deepcopy(existing)
    for item in new:
        if item not in out:
            out.append(copy.deepcopy(item))
    return out


# ---------------------------------------------------------------------------------------------------------
# Main container
# ---------------------------------------------------------------------------------------------------------


def main_container_name(pod: Any) -> str:
    """The name of the container whose exit decides the task, for a built or a found pod.

    Reads the ``kubectl.kubernetes.io/default-container`` annotation this module writes; for a pod without
    it (made elsewhere), the container named ``base``, else the first container.
    """
    if not isinstance(pod, Mapping):
        pod = to_api(pod, "V1Pod", "pod")
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if not containers:
        raise PodSpecError("spec.containers: the pod has no containers")
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated in containers:
        return str(annotated)
    if DEFAULT_BASE_CONTAINER_NAME in containers:
        return DEFAULT_BASE_CONTAINER_NAME
    return str(containers[0])


def _main_container(pod: dict[str, Any], arguments: Mapping[str, Any], default_name: str) -> dict[str, Any]:
    wanted = arguments.get("base_container_name") or default_name
    if not isinstance(wanted, str):
        raise PodSpecError(f"base_container_name: expected a string, got {wanted!r}")
    containers: list[dict[str, Any]] = pod["spec"].setdefault("containers", [])
    for container in containers:
        if container.get("name") == wanted:
            return container
    if containers:
        if "base_container_name" in arguments:
            names = ", ".join(repr(c.get("name")) for c in containers)
            raise PodSpecError(
                f"base_container_name: the manifest has no container named {wanted!r} (containers: {names})"
            )
        return containers[0]
    created: dict[str, Any] = {"name": wanted}
    if "termination_message_policy" not in arguments:
        created["terminationMessagePolicy"] = "File"
    containers.append(created)
    return created


# ---------------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------------


def _apply(target: dict[str, Any], field: str, value: Any, how: Any) -> None:
    if how == "replace":
        if value in ([], {}, None):
            target.pop(field, None)
        else:
            target[field] = value
    elif how == "append":
        target[field] = _append_unique(target.get(field) or [], value)
    else:
        mode, key = how
        target[field] = _merge_keyed(target.get(field) or [], value, key, deep=(mode == "deep"))
    if target.get(field) == []:
        target.pop(field)


def _env_list(value: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):
        env = []
        for key, item in value.items():
            path = field_path(name, str(key))
            if not isinstance(key, str):
                raise PodSpecError(f"{path}: an environment variable name must be a string, got {key!r}")
            if item is not None and not isinstance(item, str):
                raise PodSpecError(
                    f"{path}: an environment variable value must be a string, got "
                    f"{type(item).__name__} {item!r}; quote it"
                )
            env.append({"name": key, "value": item} if item is not None else {"name": key})
        return env
    converted: list[dict[str, Any]] = to_api(value, "List[V1EnvVar]", name)
    return converted


def _string_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PodSpecError(f"{name}: expected a list of names, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise PodSpecError(f"{field_path(name, i)}: expected a name, got {item!r}")
    return list(value)


def _image_pull_secrets(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"name": part.strip()} for part in value.split(",") if part.strip()]
    converted: list[dict[str, Any]] = to_api(value, "List[V1LocalObjectReference]", "image_pull_secrets")
    return converted


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PodSpecError(f"{name}: expected a mapping, got {value!r}")
    out: dict[str, str] = {}
    for key, item in value.items():
        out[str(key)] = "" if item is None else item
    return out


def _apply_secrets(pod: dict[str, Any], main: dict[str, Any], secrets: Any) -> None:
    from airflow_provider_k8spod.secret import secret_pod_parts

    if not isinstance(secrets, (list, tuple)):
        secrets = [secrets]
    for i, secret in enumerate(secrets):
        parts = secret_pod_parts(secret, f"secrets[{i}]")
        if "env" in parts:
            main["env"] = _merge_keyed(main.get("env") or [], [parts["env"]], _by("name"))
        if "envFrom" in parts:
            main["envFrom"] = _append_unique(main.get("envFrom") or [], [parts["envFrom"]])
        if "volume" in parts:
            spec = pod["spec"]
            spec["volumes"] = _merge_keyed(spec.get("volumes") or [], [parts["volume"]], _by("name"))
            main["volumeMounts"] = _merge_keyed(
                main.get("volumeMounts") or [], [parts["volumeMount"]], _by("mountPath")
            )


def build_pod(
    arguments: Mapping[str, Any],
    *,
    task_id: str,
    dag_id: str | None = None,
    identity: TaskIdentity | None = None,
    default_namespace: str = "default",
    xcom_sidecar: SidecarSettings | None = None,
    extra_labels: Mapping[str, str] | None = None,
    default_base_container_name: str = DEFAULT_BASE_CONTAINER_NAME,
    allow_templates: bool = False,
    xcom_transport: str | None = None,
    xcom_token: str | None = None,
    derived_active_deadline_seconds: int | None = None,
) -> dict[str, Any]:
    """Build and validate the pod for a task. Pure apart from reading ``pod_template_file``.

    :param arguments: the pod-shaping operator arguments **the user passed**, by upstream name (see
        :data:`POD_ARGUMENTS`), with rendered values. Arguments that were not passed must be absent; a
        value of ``None`` counts as not passed.
    :param task_id: used for the pod name when neither ``name`` nor the manifest gives one.
    :param dag_id: only used for the name suffix when there is no ``identity`` (``dry_run``).
    :param identity: the task instance try; adds the identity labels and annotations and makes the name
        unique per try. ``None`` (``dry_run`` without a context) adds none.
    :param default_namespace: namespace when neither the argument nor the manifest sets one.
    :param xcom_sidecar: inject the XCom sidecar with these settings; ``None`` for no sidecar.
    :param xcom_transport: ``"termination_message"`` or ``"logs"``: shape the main container for that
        XCom transport instead (no sidecar); ``xcom_token`` makes the log marker (random when None).
    :param extra_labels: labels added after the user's (e.g. ``airflow_version``).
    :param default_base_container_name: the main container's name when ``base_container_name`` was not
        passed (an operator subclass may change it through its ``BASE_CONTAINER_NAME``).
    :param derived_active_deadline_seconds: ``spec.activeDeadlineSeconds`` when neither the
        ``active_deadline_seconds`` argument nor the manifest sets it (the operator derives it from
        ``execution_timeout``); the pod is then annotated :data:`ACTIVE_DEADLINE_SOURCE_ANNOTATION`.
    :param allow_templates: values may still be Jinja templates (``dry_run()`` shows the task before
        rendering): their names, labels and quantities are not checked. Never set when creating a pod.
    :returns: the canonical pod dict. Raises :class:`PodSpecError` for anything that would not make a
        valid pod, naming the argument or field path.
    """
    arguments = {k: v for k, v in arguments.items() if v is not None}
    unknown = sorted(set(arguments) - POD_ARGUMENTS)
    if unknown:
        raise TypeError(f"build_pod: not pod arguments: {', '.join(unknown)}")

    pod = load_manifest(arguments) or {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}}
    metadata: dict[str, Any] = pod.setdefault("metadata", {})
    spec: dict[str, Any] = pod.setdefault("spec", {})
    created_main = not spec.get("containers")
    main = _main_container(pod, arguments, default_base_container_name)

    for arg, (field, type_name, how) in _CONTAINER_ARGS.items():
        if arg in arguments:
            _apply(main, field, to_api(arguments[arg], type_name, arg), how)
    for arg in ("env_vars", "pod_runtime_info_envs"):
        if arg in arguments:
            main["env"] = _merge_keyed(main.get("env") or [], _env_list(arguments[arg], arg), _by("name"))
    if "configmaps" in arguments:
        refs = [{"configMapRef": {"name": n}} for n in _string_list(arguments["configmaps"], "configmaps")]
        main["envFrom"] = _append_unique(main.get("envFrom") or [], refs)
    for field in ("env", "envFrom"):
        if main.get(field) == []:
            main.pop(field)

    for arg, (field, type_name, how) in _SPEC_ARGS.items():
        if arg in arguments:
            _apply(spec, field, to_api(arguments[arg], type_name, arg), how)
    if derived_active_deadline_seconds is not None and spec.get("activeDeadlineSeconds") is None:
        spec["activeDeadlineSeconds"] = derived_active_deadline_seconds
        metadata.setdefault("annotations", {})[ACTIVE_DEADLINE_SOURCE_ANNOTATION] = "execution_timeout"
    if "image_pull_secrets" in arguments:
        _apply(
            spec,
            "imagePullSecrets",
            _image_pull_secrets(arguments["image_pull_secrets"]),
            ("merge", _by("name")),
        )
    if "secrets" in arguments:
        _apply_secrets(pod, main, arguments["secrets"])

    if created_main and not main.get("image"):
        raise PodSpecError(
            "image: no image for the main container; pass image=... or a manifest with a container"
        )

    restart_policy = spec.setdefault("restartPolicy", "Never")
    if restart_policy == "Always":
        raise PodSpecError(
            "spec.restartPolicy: 'Always' would restart the pod forever and the task would never finish; "
            "use 'Never' (the default) or 'OnFailure'"
        )

    if "namespace" in arguments:
        metadata["namespace"] = arguments["namespace"]
    metadata.setdefault("namespace", default_namespace)

    base: str | None = None
    if "name" in arguments and allow_templates and is_unrendered_template(arguments["name"]):
        base = arguments["name"]
    elif "name" in arguments:
        base = normalize_pod_name(arguments["name"], source="name")
    elif metadata.get("name"):
        base = metadata["name"]
    elif metadata.get("generateName"):
        base = str(metadata["generateName"]).rstrip("-") or None
    metadata.pop("generateName", None)
    metadata["name"] = pod_name(
        task_id,
        identity,
        dag_id=dag_id,
        base=base,
        random_suffix=bool(arguments.get("random_name_suffix", True)),
    )

    labels: dict[str, Any] = dict(metadata.get("labels") or {})
    if "labels" in arguments:
        user_labels = _string_map(to_api(arguments["labels"], "Dict[str, str]", "labels"), "labels")
        reserved = sorted(set(user_labels) & IDENTITY_LABEL_KEYS)
        if reserved:
            raise PodSpecError(
                f"labels: {', '.join(repr(k) for k in reserved)} identify the task instance and are set by "
                "the provider; choose other label keys"
            )
        labels.update(user_labels)
    labels.update(extra_labels or {})
    annotations: dict[str, Any] = dict(metadata.get("annotations") or {})
    if "annotations" in arguments:
        user_annotations = _string_map(
            to_api(arguments["annotations"], "Dict[str, str]", "annotations"), "annotations"
        )
        chosen = user_annotations.get(DEFAULT_CONTAINER_ANNOTATION)
        if chosen is not None and chosen != main["name"]:
            raise PodSpecError(
                f"annotations[{DEFAULT_CONTAINER_ANNOTATION!r}]: {chosen!r} is not the main container "
                f"{main['name']!r}; the main container is chosen with base_container_name"
            )
        annotations.update(user_annotations)
    if identity is not None:
        labels.update(identity_labels(identity))
        annotations.update(identity_annotations(identity))
    annotations[DEFAULT_CONTAINER_ANNOTATION] = main["name"]
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    if not labels:
        metadata.pop("labels")

    _upstream_empty_fields(spec, main)

    if xcom_transport == "termination_message":
        pod = inject_xcom_termination_message(pod, main["name"])
    elif xcom_transport == "logs":
        pod = inject_xcom_logs(pod, main["name"], xcom_token or secrets.token_hex(8))
    elif xcom_sidecar is not None:
        pod = inject_xcom_sidecar(pod, main["name"], xcom_sidecar)

    _check_images(pod)
    validate_pod(pod, allow_templates=allow_templates)
    return _ordered(pod)


#: Fields upstream's operator always sets, empty (or Kubernetes' default) when nothing fills them: (spec
#: fields, main container fields). Code written for upstream relies on them, e.g. a ``pod_mutation_hook``
#: that does ``pod.spec.containers[0].env.append(...)``. To Kubernetes they mean the same as absent fields.
UPSTREAM_EMPTY_SPEC_FIELDS: dict[str, Any] = {
    "affinity": {},
    "hostNetwork": False,
    "imagePullSecrets": [],
    "initContainers": [],
    "nodeSelector": {},
    "securityContext": {},
    "tolerations": [],
    "volumes": [],
}
UPSTREAM_EMPTY_CONTAINER_FIELDS: dict[str, Any] = {
    "args": [],
    "command": [],
    "env": [],
    "envFrom": [],
    "ports": [],
    "terminationMessagePolicy": "File",  # Kubernetes' default, which upstream always writes
    "volumeMounts": [],
}


def _upstream_empty_fields(spec: dict[str, Any], main: dict[str, Any]) -> None:
    """Give the pod and its main container every field upstream always sets, empty where nothing set it.

    Runs after every merge, so an empty field never overrides a manifest's value or an argument.
    """
    for fields, target in ((UPSTREAM_EMPTY_SPEC_FIELDS, spec), (UPSTREAM_EMPTY_CONTAINER_FIELDS, main)):
        for field, empty in fields.items():
            if target.get(field) is None:
                target[field] = copy.copy(empty)


def _check_images(pod: dict[str, Any]) -> None:
    spec = pod.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(kind) or []):
            if isinstance(container, dict) and not container.get("image"):
                raise PodSpecError(
                    f"invalid pod: spec.{kind}[{i}].image: container {container.get('name')!r} has no image"
                )


def _ordered(pod: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {k: pod[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in pod}
    spec = head.get("spec")
    if isinstance(spec, dict):
        for kind in ("initContainers", "containers"):
            if isinstance(spec.get(kind), list):
                spec[kind] = [_first(c, ("name", "image", "command", "args")) for c in spec[kind]]
    metadata = head.get("metadata")
    if isinstance(metadata, dict):
        order = ("name", "namespace", "labels", "annotations")
        head["metadata"] = {k: metadata[k] for k in order if k in metadata} | {
            k: v for k, v in metadata.items() if k not in order
        }
    head.update({k: v for k, v in pod.items() if k not in head})
    return head


def _first(item: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(item, dict):
        return item
    return {k: item[k] for k in keys if k in item} | {k: v for k, v in item.items() if k not in keys}


def pod_to_yaml(pod: Mapping[str, Any]) -> str:
    """The pod as YAML (block style, keys in the canonical order)."""
    return yaml.safe_dump(dict(pod), sort_keys=False, default_flow_style=False, allow_unicode=True)
