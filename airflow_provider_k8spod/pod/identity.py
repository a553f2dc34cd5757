"""Which task instance a pod belongs to: labels, annotations, selector and name (all pure).

Reattach, adoption after a 409 and cleanup rely on this identity, so it is deterministic: the same try of
the same task instance always gives the same labels and the same pod name, and different task instances or
tries never share a name.

Public API:

- :class:`TaskIdentity` ``(dag_id, task_id, run_id, map_index=-1, try_number=1)``;
  :meth:`TaskIdentity.from_context` builds it from an Airflow context.
- :func:`identity_labels` ``(identity) -> dict``: the labels put on the pod, exactly upstream's: ``dag_id``,
  ``task_id``, ``run_id``, ``map_index`` (only when >= 0), ``try_number`` and
  ``kubernetes_pod_operator: "True"`` (so ``airflow kubernetes cleanup-pods`` and tooling written for
  upstream find the pods). Values go through :func:`safe_label_value`.
- :func:`identity_annotations` ``(identity) -> dict``: the marker :data:`MANAGED_BY_ANNOTATION` =
  :data:`MANAGED_BY_VALUE` for pods made by this provider, and the raw, unsanitized values under
  :data:`ANNOTATION_PREFIX`. Identity beyond upstream's labels lives in annotations only.
- :func:`task_instance_selector` ``(identity) -> str``: a label selector that finds the pods of one task
  instance across tries (upstream's labels without the try number); :func:`is_managed` tells this
  provider's pods among them.
- :func:`pod_try_number` ``(pod) -> int | None`` and :func:`pod_task_identity` ``(pod) -> TaskIdentity | None``
  read a found pod's identity back.
- :func:`pod_name` ``(task_id, identity=None, *, dag_id=None, base=None, random_suffix=True) -> str``: the pod
  name. :func:`normalize_pod_name` applies upstream's clean-up to a user-given name.
- :func:`safe_label_value` ``(value) -> str``: upstream-compatible label value sanitizing.
- :func:`recreated_pod_name` ``(name, attempt) -> str`` and :func:`pod_recreate_attempt` ``(pod) -> int``:
  the name of a pod created again for the same try after the infrastructure lost the previous one
  (``pod_recreate_attempts``), and which attempt a found pod is (annotation :data:`RECREATE_ANNOTATION`).

Name scheme (see docs/pod-spec.md): ``<base>-<suffix>``. ``base`` is the ``name`` argument, else the
manifest's ``metadata.name``, else the task id made DNS-safe. ``suffix`` is 10 characters of a SHA-256 of
(dag_id, task_id, run_id, map_index, try_number): unique per task instance try and the same for the same
try, so a create that fails with 409 AlreadyExists can adopt the pod of that name. The whole name is at
most 63 characters and a valid DNS-1123 label. ``random_name_suffix=False`` drops the suffix.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_k8spod.exceptions import PodSpecError

__all__ = [
    "ACTIVE_DEADLINE_SOURCE_ANNOTATION",
    "ANNOTATION_PREFIX",
    "MANAGED_BY_ANNOTATION",
    "MANAGED_BY_VALUE",
    "MARKER_SELECTOR",
    "MAX_NAME_ARGUMENT_LENGTH",
    "MAX_NAME_LENGTH",
    "RECREATE_ANNOTATION",
    "TaskIdentity",
    "carries_marker",
    "identity_annotations",
    "identity_labels",
    "is_managed",
    "normalize_pod_name",
    "pod_name",
    "pod_recreate_attempt",
    "pod_task_identity",
    "pod_try_number",
    "recreated_pod_name",
    "safe_label_value",
    "task_instance_selector",
]

MAX_NAME_LENGTH = 63
#: The longest ``name=`` accepted (upstream's limit; longer names are cut to fit 63 with the suffix).
MAX_NAME_ARGUMENT_LENGTH = 220
SUFFIX_LENGTH = 10
#: Annotation (not a label: the labels are upstream's) that marks a pod made by this provider.
MANAGED_BY_ANNOTATION = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airflow-provider-k8spod"
UPSTREAM_MARKER_LABEL = "kubernetes_pod_operator"
#: Label selector of every pod made by a KubernetesPodOperator (ours and upstream's).
MARKER_SELECTOR = f"{UPSTREAM_MARKER_LABEL}=True"
ANNOTATION_PREFIX = "airflow-provider-k8spod/"
#: On a pod whose ``activeDeadlineSeconds`` the operator derived (value: ``execution_timeout``).
ACTIVE_DEADLINE_SOURCE_ANNOTATION = f"{ANNOTATION_PREFIX}active-deadline-source"
#: On a pod created again for the same try (``pod_recreate_attempts``): which recreation it is (1, 2, ...).
RECREATE_ANNOTATION = f"{ANNOTATION_PREFIX}recreate-attempt"
#: Label keys this module owns on a pod. A user label with one of these keys is an error.
IDENTITY_LABEL_KEYS = frozenset(
    {"dag_id", "task_id", "run_id", "map_index", "try_number", UPSTREAM_MARKER_LABEL}
)

_MAX_LABEL = 63
_HASH_LENGTH = 9


@dataclass(frozen=True)
class TaskIdentity:
    """One try of one task instance."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskIdentity:
        """The identity of the task instance an Airflow ``context`` is for (its ``ti``)."""
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            raise PodSpecError("the Airflow context has no task instance ('ti'); cannot name the pod")
        map_index = getattr(ti, "map_index", None)
        try_number = getattr(ti, "try_number", None)
        run_id = getattr(ti, "run_id", None) or context.get("run_id")
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(run_id),
            map_index=-1 if map_index is None else int(map_index),
            try_number=1 if try_number is None else int(try_number),
        )

    def digest(self) -> str:
        """10 lower-case base32 characters of a SHA-256 of every field (stable across processes)."""
        return _digest(self.dag_id, self.task_id, self.run_id, str(self.map_index), str(self.try_number))


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:SUFFIX_LENGTH]


def safe_label_value(value: str) -> str:
    """Make ``value`` a valid label value the way upstream does, so both label the same run alike.

    Characters outside ``[A-Za-z0-9_.-]`` are removed, as are leading and trailing non-alphanumerics. When
    that changed anything, or the value is longer than 63, it is cut to 53 characters and ``-`` plus 9 hex
    characters of the MD5 of the raw value are appended, so two different raw values stay different.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "", value)
    safe = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", safe)
    if safe == value and len(safe) <= _MAX_LABEL:
        return safe
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()[:_HASH_LENGTH]
    if not safe:
        return digest
    return f"{safe[: _MAX_LABEL - _HASH_LENGTH - 1]}-{digest}"


def identity_labels(identity: TaskIdentity) -> dict[str, str]:
    """Labels that identify ``identity`` on a pod (values sanitized with :func:`safe_label_value`)."""
    labels = {
        "dag_id": safe_label_value(identity.dag_id),
        "task_id": safe_label_value(identity.task_id),
        "run_id": safe_label_value(identity.run_id),
        "try_number": str(identity.try_number),
        UPSTREAM_MARKER_LABEL: "True",
    }
    if identity.map_index >= 0:
        labels["map_index"] = str(identity.map_index)
    return labels


def identity_annotations(identity: TaskIdentity) -> dict[str, str]:
    """This provider's marker and the raw identity values, as annotations (no length or character limits)."""
    return {
        MANAGED_BY_ANNOTATION: MANAGED_BY_VALUE,
        f"{ANNOTATION_PREFIX}dag_id": identity.dag_id,
        f"{ANNOTATION_PREFIX}task_id": identity.task_id,
        f"{ANNOTATION_PREFIX}run_id": identity.run_id,
        f"{ANNOTATION_PREFIX}map_index": str(identity.map_index),
        f"{ANNOTATION_PREFIX}try_number": str(identity.try_number),
    }


def task_instance_selector(identity: TaskIdentity) -> str:
    """Label selector for every pod of this task instance (any try): upstream's labels but the try number.

    It also matches pods upstream's operator made for the same task instance; :func:`is_managed` and
    :func:`pod_task_identity` tell ours. A non-mapped task instance selects pods without a ``map_index``
    label, so it never matches the pods of mapped instances of a task with the same id.
    """
    labels = identity_labels(identity)
    labels.pop("try_number")
    parts = [f"{key}={labels[key]}" for key in sorted(labels)]
    if identity.map_index < 0:
        parts.append("!map_index")
    return ",".join(parts)


def _metadata(pod: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(pod, Mapping):
        from airflow_provider_k8spod.pod.normalize import to_api

        pod = to_api(pod, "V1Pod", "pod")
    metadata = pod.get("metadata") or {}
    return dict(metadata.get("labels") or {}), dict(metadata.get("annotations") or {})


def is_managed(pod: Any) -> bool:
    """Whether a pod (dict or ``V1Pod``) was made by this provider: its managed-by annotation, or the
    managed-by label earlier versions set (so their pods are still adopted and followed after an upgrade)."""
    labels, annotations = _metadata(pod)
    return MANAGED_BY_VALUE in (annotations.get(MANAGED_BY_ANNOTATION), labels.get(MANAGED_BY_ANNOTATION))


def carries_marker(pod: Any) -> bool:
    """Whether a pod (dict or ``V1Pod``) matches :data:`MARKER_SELECTOR` (what a namespace watch of
    operator pods selects): a mutating webhook or a user's labels may have removed or changed the label."""
    labels, _ = _metadata(pod)
    return labels.get(UPSTREAM_MARKER_LABEL) == "True"


def pod_try_number(pod: Any) -> int | None:
    """The try number a pod (dict or ``V1Pod``) was created for, or None when it carries none."""
    labels, annotations = _metadata(pod)
    for raw in (annotations.get(f"{ANNOTATION_PREFIX}try_number"), labels.get("try_number")):
        if raw is not None:
            try:
                return int(raw)
            except (TypeError, ValueError):
                continue
    return None


def pod_task_identity(pod: Any) -> TaskIdentity | None:
    """The full identity recorded in a pod's annotations, or None for a pod not made by this provider."""
    _, annotations = _metadata(pod)
    try:
        return TaskIdentity(
            dag_id=annotations[f"{ANNOTATION_PREFIX}dag_id"],
            task_id=annotations[f"{ANNOTATION_PREFIX}task_id"],
            run_id=annotations[f"{ANNOTATION_PREFIX}run_id"],
            map_index=int(annotations[f"{ANNOTATION_PREFIX}map_index"]),
            try_number=int(annotations[f"{ANNOTATION_PREFIX}try_number"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def normalize_pod_name(name: str, *, source: str = "name") -> str:
    """Upstream's clean-up of a user-given pod name: lower-case, ``_`` and ``.`` become ``-``.

    A name longer than :data:`MAX_NAME_ARGUMENT_LENGTH` (220) is an error, as with upstream.
    ``"My_Pod.Name"`` gives ``"my-pod-name"``. Characters other than letters, digits, ``-``, ``_`` and ``.``
    are an error (``"bad name!"``), as is an empty name.
    """
    if not isinstance(name, str) or not name.strip():
        raise PodSpecError(f"{source}: a pod name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_ARGUMENT_LENGTH:
        raise PodSpecError(
            f"{source}: {len(name)} characters; a pod name may have at most {MAX_NAME_ARGUMENT_LENGTH} "
            f"(as with upstream's operator): {name[:40]!r}..."
        )
    bad = sorted(set(re.findall(r"[^A-Za-z0-9._-]", name)))
    if bad:
        raise PodSpecError(
            f"{source}: {name!r} contains {', '.join(repr(c) for c in bad)}; a pod name may only contain "
            "letters, digits, '-', '_' and '.'"
        )
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def pod_name(
    task_id: str,
    identity: TaskIdentity | None = None,
    *,
    dag_id: str | None = None,
    base: str | None = None,
    random_suffix: bool = True,
) -> str:
    """The pod name for a task (see the module docstring for the scheme).

    ``base`` is an already normalized name (from the ``name`` argument or the manifest); without it the
    task id is made DNS-safe. With ``random_suffix`` a suffix derived from ``identity`` (or, when there is
    no identity as in ``dry_run()``, from ``dag_id`` and ``task_id``) is appended and the result is at most
    63 characters. Without it ``base`` is returned as is.
    """
    stem = base if base is not None else (_slug(task_id) or "pod")
    if not random_suffix:
        return stem if base is not None else stem[:MAX_NAME_LENGTH].rstrip("-")
    suffix = identity.digest() if identity is not None else _digest("dry-run", dag_id or "", task_id)
    stem = stem[: MAX_NAME_LENGTH - SUFFIX_LENGTH - 1].rstrip("-.") or "pod"
    return f"{stem}-{suffix}"


def recreated_pod_name(name: str, attempt: int) -> str:
    """The name of the pod created for the ``attempt``-th time (0: the first pod, ``name`` itself) for the
    same try: ``name`` with ``-r<attempt>`` appended, cut to fit 63 characters. The same try and attempt
    always give the same name (a retried create finds its pod), and no two attempts share one."""
    if attempt <= 0:
        return name
    tag = f"-r{attempt}"
    return f"{name[: MAX_NAME_LENGTH - len(tag)].rstrip('-.')}{tag}"


def pod_recreate_attempt(pod: Any) -> int:
    """Which recreation of its try a pod (dict or ``V1Pod``) is: 0 for the first pod of the try."""
    _, annotations = _metadata(pod)
    try:
        return max(0, int(annotations.get(RECREATE_ANNOTATION) or 0))
    except (TypeError, ValueError):
        return 0
