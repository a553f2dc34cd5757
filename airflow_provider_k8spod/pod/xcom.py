"""The XCom sidecar: the pod side of ``do_xcom_push``.

The main container writes its result to ``/airflow/xcom/return.json``; a small sidecar container shares that
directory (an ``emptyDir`` volume named ``xcom``) and stays alive so the result can be read with an exec of
``cat`` after the main container has finished. It is then stopped with an exec of ``kill -2 1`` (each
container has its own PID namespace, so PID 1 is the sidecar's shell), which exits 0 on SIGINT or SIGTERM.

Defaults (see docs/pod-spec.md for the reasoning):

- image :data:`DEFAULT_SIDECAR_IMAGE`, a pinned busybox from ``registry.k8s.io`` (the Kubernetes project's
  own registry, which every cluster already pulls its system images from), not Docker Hub;
- resources :data:`DEFAULT_SIDECAR_RESOURCES` (requests and limits, so quotas accept it);
- security context :data:`DEFAULT_SIDECAR_SECURITY_CONTEXT`, which passes the Pod Security Standards
  "restricted" profile (non-root numeric user, no privilege escalation, all capabilities dropped, seccomp
  RuntimeDefault, read-only root filesystem).

Each can be replaced, in this order of precedence: operator argument (``xcom_sidecar_container_image``,
``xcom_sidecar_container_resources``, ``xcom_sidecar_container_security_context``), connection extra of the
same name, default. A replacement is taken whole (no merge); an empty dict means "none".

Public API (pure):

- :class:`SidecarSettings` and :func:`sidecar_settings` ``(operator values, connection values)``;
- :func:`sidecar_container` ``(settings) -> dict``;
- :func:`inject_xcom_sidecar` ``(pod, main_container, settings) -> dict`` (returns a new pod, idempotent).

Constants the lifecycle uses: :data:`XCOM_SIDECAR_NAME`, :data:`XCOM_MOUNT_PATH`, :data:`XCOM_RETURN_FILE`,
:data:`XCOM_SIDECAR_STOP_COMMAND`.

The result side (also pure): :data:`XCOM_READ_COMMAND` is exec'd in the sidecar; :func:`parse_xcom_result`
turns its outcome into the value (or :data:`NO_RESULT` when the main container wrote no file), with errors
that name the file and the first bad position.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_k8spod.exceptions import (
    ExecInterruptedError,
    ExecOutputTooLargeError,
    PodSpecError,
    XComResultError,
)
from airflow_provider_k8spod.hooks.fields import XCOM_TRANSPORTS as TRANSPORT_CHOICES
from airflow_provider_k8spod.hooks.retry import worth_retrying
from airflow_provider_k8spod.pod.status import start_time

__all__ = [
    "DEFAULT_SIDECAR_IMAGE",
    "DEFAULT_SIDECAR_RESOURCES",
    "DEFAULT_SIDECAR_SECURITY_CONTEXT",
    "NO_RESULT",
    "XCOM_MOUNT_PATH",
    "XCOM_READ_COMMAND",
    "XCOM_RETURN_FILE",
    "XCOM_SIDECAR_COMMAND",
    "XCOM_SIDECAR_NAME",
    "XCOM_SIDECAR_STOP_COMMAND",
    "XCOM_TRANSPORTS",
    "XCOM_VOLUME_NAME",
    "LogResultCollector",
    "SidecarSettings",
    "check_multiple_outputs",
    "inject_xcom_logs",
    "inject_xcom_sidecar",
    "inject_xcom_termination_message",
    "parse_termination_message",
    "parse_xcom_result",
    "read_failure",
    "resolve_xcom_transport",
    "sidecar_container",
    "sidecar_settings",
]

XCOM_SIDECAR_NAME = "airflow-xcom-sidecar"
XCOM_VOLUME_NAME = "xcom"
XCOM_MOUNT_PATH = "/airflow/xcom"
XCOM_RETURN_FILE = f"{XCOM_MOUNT_PATH}/return.json"

#: Pinned busybox built by the Kubernetes project (has sh, cat, sleep, kill), served by registry.k8s.io.
DEFAULT_SIDECAR_IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"

#: A shell that waits until SIGINT or SIGTERM and then exits 0. ``sleep & wait`` lets the trap run at once
#: instead of after the current sleep.
XCOM_SIDECAR_COMMAND = [
    "sh",
    "-c",
    "trap 'exit 0' INT TERM; while true; do sleep 30 & wait $!; done",
]

#: What the lifecycle execs in the sidecar to stop it (PID 1 of the sidecar is the shell above).
XCOM_SIDECAR_STOP_COMMAND = ["kill", "-2", "1"]

DEFAULT_SIDECAR_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "1m", "memory": "10Mi"},
    "limits": {"cpu": "100m", "memory": "50Mi"},
}

DEFAULT_SIDECAR_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class SidecarSettings:
    """Image, resources and security context of the XCom sidecar (canonical camelCase dicts)."""

    image: str = DEFAULT_SIDECAR_IMAGE
    resources: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_SIDECAR_RESOURCES))
    security_context: dict[str, Any] = field(
        default_factory=lambda: copy.deepcopy(DEFAULT_SIDECAR_SECURITY_CONTEXT)
    )


#: How long a pod whose XCom sidecar a trigger left running may wait for its worker: Kubernetes stops it then
#: (``activeDeadlineSeconds``) if Airflow never resumes the task (it failed the task instance itself, say).
#: Longer than Airflow's default ``task_queued_timeout`` (10 minutes), the longest a resume waits in line.
SIDECAR_WAIT_SECONDS = 1800


def sidecar_wait_deadline(
    pod: Mapping[str, Any], *, now: float, wait: float = SIDECAR_WAIT_SECONDS
) -> int | None:
    """The ``activeDeadlineSeconds`` that stops ``pod`` ``wait`` seconds from ``now`` (Kubernetes counts from
    the pod's ``startTime``); None when it has no start time or already has a deadline at least as near
    (a deadline can only be lowered). Pure."""
    started = start_time(pod)
    if started is None:
        return None
    wanted = max(1, math.ceil(now - started + wait))
    current = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    if isinstance(current, int) and current <= wanted:
        return None
    return wanted


def sidecar_settings(
    *,
    image: str | None = None,
    resources: Any = None,
    security_context: Any = None,
    connection_image: str | None = None,
    connection_resources: Any = None,
    connection_security_context: Any = None,
) -> SidecarSettings:
    """Resolve the sidecar settings: operator value, else connection extra, else default.

    Values may be ``kubernetes.client`` models or dicts in camelCase or snake_case; ``None`` means "not set".
    """
    from airflow_provider_k8spod.pod.normalize import to_api

    chosen_image = image or connection_image or DEFAULT_SIDECAR_IMAGE
    if not isinstance(chosen_image, str):
        raise PodSpecError(f"xcom_sidecar_container_image: expected a string, got {chosen_image!r}")

    def pick(own: Any, conn: Any, default: dict[str, Any], type_name: str, name: str) -> dict[str, Any]:
        if own is not None:
            return to_api(own, type_name, name) or {}
        if conn is not None:
            return to_api(conn, type_name, f"connection extra {name}") or {}
        return copy.deepcopy(default)

    return SidecarSettings(
        image=chosen_image,
        resources=pick(
            resources,
            connection_resources,
            DEFAULT_SIDECAR_RESOURCES,
            "V1ResourceRequirements",
            "xcom_sidecar_container_resources",
        ),
        security_context=pick(
            security_context,
            connection_security_context,
            DEFAULT_SIDECAR_SECURITY_CONTEXT,
            "V1SecurityContext",
            "xcom_sidecar_container_security_context",
        ),
    )


def sidecar_container(settings: SidecarSettings | None = None) -> dict[str, Any]:
    """The sidecar container (canonical dict)."""
    settings = settings or SidecarSettings()
    container: dict[str, Any] = {
        "name": XCOM_SIDECAR_NAME,
        "image": settings.image,
        "command": list(XCOM_SIDECAR_COMMAND),
        "volumeMounts": [{"name": XCOM_VOLUME_NAME, "mountPath": XCOM_MOUNT_PATH}],
    }
    if settings.resources:
        container["resources"] = copy.deepcopy(settings.resources)
    if settings.security_context:
        container["securityContext"] = copy.deepcopy(settings.security_context)
    return container


def inject_xcom_sidecar(
    pod: dict[str, Any], main_container: str, settings: SidecarSettings | None = None
) -> dict[str, Any]:
    """A copy of ``pod`` with the XCom volume, its mount on ``main_container`` and the sidecar.

    The main container is found by name, never by position. Injecting twice gives the same pod (an
    existing sidecar is replaced). A volume called ``xcom`` that is not an emptyDir, or another volume
    mounted at ``/airflow/xcom`` in the main container, is a :class:`PodSpecError`.
    """
    pod = copy.deepcopy(pod)
    if main_container == XCOM_SIDECAR_NAME:
        raise PodSpecError(f"spec.containers: the main container may not be called {XCOM_SIDECAR_NAME!r}")
    _mount_xcom_volume(pod, main_container, "sidecar")
    containers: list[dict[str, Any]] = pod["spec"]["containers"]

    sidecar = sidecar_container(settings)
    for i, container in enumerate(containers):
        if container.get("name") == XCOM_SIDECAR_NAME:
            containers[i] = sidecar
            break
    else:
        containers.append(sidecar)
    return pod


# -- reading the result -------------------------------------------------------------------------------------

#: Exit code of :data:`XCOM_READ_COMMAND` when there is no result file.
NO_FILE_EXIT_CODE = 66

#: Exec'd in the sidecar: print the result file, or exit 66 when the main container wrote none.
XCOM_READ_COMMAND = [
    "sh",
    "-c",
    f"if [ -e {XCOM_RETURN_FILE} ]; then exec cat {XCOM_RETURN_FILE}; else exit {NO_FILE_EXIT_CODE}; fi",
]

#: Default cap on the size of ``return.json`` (bytes).
DEFAULT_MAX_XCOM_SIZE = 32 * 1024 * 1024


class _NoResult:
    def __repr__(self) -> str:
        return "NO_RESULT"


#: The main container wrote no result file (or an empty one): the task returns None.
NO_RESULT: Any = _NoResult()


def parse_xcom_result(stdout: bytes, exit_code: int | None, *, stderr: bytes = b"") -> Any:
    """The value the main container wrote to ``return.json``, or :data:`NO_RESULT`.

    Raises :class:`XComResultError` for content that is not JSON (naming the file, line, column and the
    offending text), for ``NaN``/``Infinity`` (and numbers too large for a float), which Python's json
    module would accept but Airflow cannot store, or for a read that failed.
    """
    if exit_code == NO_FILE_EXIT_CODE:
        return NO_RESULT
    if exit_code != 0:
        detail = stderr.decode("utf-8", "replace").strip()[-300:]
        raise XComResultError(
            f"reading {XCOM_RETURN_FILE} in the {XCOM_SIDECAR_NAME} container failed "
            f"(exit code {exit_code}){': ' + detail if detail else ''}"
        )
    if not stdout.strip():
        return NO_RESULT
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XComResultError(
            f"{XCOM_RETURN_FILE} is not UTF-8 text (invalid byte at position {exc.start}); "
            "write the result as JSON"
        ) from None
    import json

    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _OutOfRange as exc:
        raise XComResultError(
            f"{XCOM_RETURN_FILE} contains {exc.value}, {exc.why}: JSON has no NaN or Infinity and Airflow "
            "cannot store it as an XCom. Write null or a string instead (Python's json.dump writes NaN unless "
            "given allow_nan=False)"
        ) from None
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - 20)
        excerpt = text[start : exc.pos + 20].replace("\n", "\\n")
        raise XComResultError(
            f"{XCOM_RETURN_FILE} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(position {exc.pos}), near {excerpt!r}. Write the result with json.dump, e.g. "
            "'\"hello\"' rather than 'hello'"
        ) from None


_JSON_TYPES = {dict: "a JSON object", list: "a JSON array", str: "a JSON string", bool: "a JSON boolean"}


def read_failure(error: BaseException, *, max_size: int, attempts: int = 1) -> tuple[bool, str]:
    """Reading ``return.json`` failed with ``error``: may reading it again succeed, and what to tell the
    user (pure). The read (a ``cat``) is idempotent and the file stays in the sidecar, so a cut connection
    or an API that is briefly unavailable is worth another read; a result above ``max_size`` or a refusal
    (403, 404) is not. The size limit is named only when it is the size limit."""
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if isinstance(error, ExecOutputTooLargeError):
        return False, (
            f"{XCOM_RETURN_FILE} is larger than the limit of {max_size} bytes (max_xcom_size); write a "
            "smaller result, e.g. a reference to where the data is"
        )
    if isinstance(error, ExecInterruptedError):
        return (
            True,
            f"the connection reading {XCOM_RETURN_FILE} was cut before the read finished{tries}: {error}",
        )
    if worth_retrying(error):
        return (
            True,
            f"reading {XCOM_RETURN_FILE} failed{tries}, the connection was cut or the API unavailable: {error}",
        )
    return False, f"reading the XCom result failed: {error}"


def check_multiple_outputs(value: Any, *, multiple_outputs: bool) -> None:
    """With ``multiple_outputs=True`` the result must be a JSON object (one XCom per key); None (no file, or
    ``null``) pushes nothing, as Airflow does. Raises :class:`XComResultError` naming what the file held."""
    if not multiple_outputs or value is None or value is NO_RESULT or isinstance(value, dict):
        return
    kind = _JSON_TYPES.get(type(value)) or ("a JSON number" if isinstance(value, int | float) else "")
    raise XComResultError(
        f"multiple_outputs=True needs {XCOM_RETURN_FILE} to hold a JSON object, e.g. "
        f'{{"rows": 3, "path": "s3://..."}} (each key becomes an XCom); it holds {kind or type(value).__name__}: '
        f"{_excerpt(value)}"
    )


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _OutOfRange(ValueError):
    def __init__(self, value: str, why: str) -> None:
        super().__init__(value)
        self.value, self.why = value, why


def _reject_constant(value: str) -> Any:
    """``NaN``, ``Infinity``, ``-Infinity``: accepted by Python's json module, not by JSON nor Airflow."""
    raise _OutOfRange(value, "which is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999
        raise _OutOfRange(f"the number {text}", "which is out of the range of a float (it reads as Infinity)")
    return value


# -- transports without exec ----------------------------------------------------------------------------------
#
# ``sidecar`` (default): the result is read from the sidecar with an exec (RBAC ``pods/exec``).
# ``termination_message``: the main container's ``terminationMessagePath`` *is* ``return.json`` (the kubelet
#   mounts its termination message file there, over the ``xcom`` emptyDir), so the kubelet puts the file in
#   ``state.terminated.message`` when the container exits. No wrapper, so the user's command and the
#   image's entrypoint run unchanged; the price is no compression and the kubelet's limit: it keeps only
#   the *last* 4096 bytes (an equal share of 12 KiB when the pod has more than three containers), so a
#   message that fills the limit may have been cut and is refused.
# ``logs``: the main container's command is wrapped in ``sh -c``; once the user's command has exited, the
#   wrapper prints the file base64-encoded, 76 characters a line, each line behind a marker unique to the
#   pod (an annotation keeps it), and exits with the command's exit code. The lifecycle's log follower
#   takes those lines out of the log (they never reach the task log).

XCOM_TRANSPORTS = tuple(TRANSPORT_CHOICES)

#: The annotation that keeps the pod's log marker (``xcom_transport="logs"``).
XCOM_MARKER_ANNOTATION = "k8spod.airflow.apache.org/xcom-marker"

#: What the kubelet keeps of a termination message (bytes), and of all a pod's together.
TERMINATION_MESSAGE_LIMIT = 4096
POD_TERMINATION_MESSAGES_LIMIT = 12 * 1024


def resolve_xcom_transport(own: Any, connection: Any) -> str:
    """The operator argument, else the connection extra, else ``sidecar``; an unknown value is a
    :class:`PodSpecError` naming where it came from and the valid values (pure)."""
    for value, where in ((own, "xcom_transport"), (connection, "connection extra xcom_transport")):
        if value is None or value == "":
            continue
        if value not in XCOM_TRANSPORTS:
            raise PodSpecError(
                f"{where}: {value!r} is not a transport; use one of {', '.join(repr(t) for t in XCOM_TRANSPORTS)}"
            )
        return str(value)
    return "sidecar"


def termination_message_limit(pod: Mapping[str, Any]) -> int:
    """The bytes of the main container's termination message the kubelet keeps for ``pod`` (pure)."""
    spec = pod.get("spec") or {}
    count = len(spec.get("containers") or []) + len(spec.get("initContainers") or [])
    return min(TERMINATION_MESSAGE_LIMIT, POD_TERMINATION_MESSAGES_LIMIT // max(1, count))


def _mount_xcom_volume(pod: dict[str, Any], main_container: str, transport: str) -> dict[str, Any]:
    """The ``xcom`` emptyDir mounted at ``/airflow/xcom`` on the main container (in place); returns it."""
    spec = pod.setdefault("spec", {})
    containers: list[dict[str, Any]] = spec.setdefault("containers", [])
    main = next((c for c in containers if c.get("name") == main_container), None)
    if main is None:
        raise PodSpecError(f"spec.containers: no container named {main_container!r} to mount the XCom volume")
    volumes: list[dict[str, Any]] = spec.setdefault("volumes", [])
    for i, volume in enumerate(volumes):
        if volume.get("name") == XCOM_VOLUME_NAME:
            if set(volume) - {"name", "emptyDir"}:
                raise PodSpecError(
                    f"spec.volumes[{i}]: the volume name {XCOM_VOLUME_NAME!r} is reserved for the XCom "
                    + (
                        "sidecar's emptyDir when do_xcom_push=True"
                        if transport == "sidecar"
                        else f"emptyDir when do_xcom_push=True (xcom_transport={transport!r})"
                    )
                    + "; rename your volume"
                )
            break
    else:
        volumes.insert(0, {"name": XCOM_VOLUME_NAME, "emptyDir": {}})
    mounts: list[dict[str, Any]] = main.setdefault("volumeMounts", [])
    index = containers.index(main)
    for j, mount in enumerate(mounts):
        if mount.get("mountPath") == XCOM_MOUNT_PATH:
            if mount.get("name") != XCOM_VOLUME_NAME:
                raise PodSpecError(
                    f"spec.containers[{index}].volumeMounts[{j}]: {XCOM_MOUNT_PATH} is where the XCom volume "
                    "is mounted when do_xcom_push=True; mount your volume elsewhere"
                )
            break
    else:
        mounts.insert(0, {"name": XCOM_VOLUME_NAME, "mountPath": XCOM_MOUNT_PATH})
    return main


def inject_xcom_termination_message(pod: dict[str, Any], main_container: str) -> dict[str, Any]:
    """A copy of ``pod`` whose main container's termination message is ``return.json`` (pure, idempotent).

    A ``terminationMessagePath`` or ``terminationMessagePolicy`` the user set to something else than the
    defaults is a :class:`PodSpecError`: this transport needs both (``FallbackToLogsOnError`` would turn
    the log's tail into a "result").
    """
    pod = copy.deepcopy(pod)
    main = _mount_xcom_volume(pod, main_container, "termination_message")
    path = main.get("terminationMessagePath")
    if path not in (None, "", "/dev/termination-log", XCOM_RETURN_FILE):
        raise PodSpecError(
            f"container {main_container!r}: terminationMessagePath is {path!r}, but "
            f"xcom_transport='termination_message' sets it to {XCOM_RETURN_FILE}; remove it, or choose another "
            "xcom_transport"
        )
    policy = main.get("terminationMessagePolicy")
    if policy not in (None, "", "File"):
        raise PodSpecError(
            f"container {main_container!r}: terminationMessagePolicy is {policy!r}, but "
            "xcom_transport='termination_message' needs 'File' (the message is the result, never the log's "
            "tail); remove it, or choose another xcom_transport"
        )
    main["terminationMessagePath"] = XCOM_RETURN_FILE
    main["terminationMessagePolicy"] = "File"
    return pod


def parse_termination_message(pod: Mapping[str, Any], main_container: str) -> Any:
    """The result the main container left in its termination message, or :data:`NO_RESULT` (pure).

    A message that fills the kubelet's limit may have been cut (the kubelet keeps the *last* bytes), so it
    is an :class:`XComResultError` naming the limit and the transports without one.
    """
    message = _terminated_message(pod, main_container)
    if message is None:
        return NO_RESULT
    data = message.encode("utf-8")
    limit = termination_message_limit(pod)
    if len(data) >= limit:
        raise XComResultError(
            f"{XCOM_RETURN_FILE} is {limit} bytes or more, the most Kubernetes keeps of a termination message "
            f"(xcom_transport='termination_message': 4096 bytes per container, 12 KiB per pod); write a "
            "smaller result, or use xcom_transport='logs' (up to max_xcom_size) or 'sidecar'"
        )
    return parse_xcom_result(data, 0)


def _terminated_message(pod: Mapping[str, Any], name: str) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == name:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is None:
                return None
            return str(terminated.get("message") or "")
    return None


def xcom_marker(token: str) -> str:
    """The prefix of the lines that carry the result in the log (``token``: random, per pod)."""
    return f"::k8spod-xcom-{token}::"


#: ``sh -c`` script of the ``logs`` transport; ``$1``: the marker, then the user's command. No ``$(...)``
#: nor ``$$`` (Kubernetes would expand them in a command). SIGTERM and SIGINT are passed on to the command.
XCOM_LOGS_SCRIPT = (
    'm="$1"; shift; "$@" & c=$!; trap \'kill -TERM "$c" 2>/dev/null\' TERM; '
    'wait "$c"; rc=$?; while kill -0 "$c" 2>/dev/null; do wait "$c"; rc=$?; done; '
    f"f={XCOM_RETURN_FILE}; "
    'if [ ! -s "$f" ]; then printf \'%s none\\n\' "$m"; '
    "elif ! command -v base64 >/dev/null 2>&1; then "
    "printf '%s error base64 was not found in the image\\n' \"$m\"; "
    "else printf '%s begin\\n' \"$m\"; "
    'base64 "$f" | { n=0; while IFS= read -r l; do printf \'%s %s\\n\' "$m" "$l"; n=$((n+1)); done; '
    'printf \'%s end %s\\n\' "$m" "$n"; }; fi; exit "$rc"'
)


def inject_xcom_logs(pod: dict[str, Any], main_container: str, token: str) -> dict[str, Any]:
    """A copy of ``pod`` whose main container prints its result to its log when its command has exited
    (pure): ``sh -c SCRIPT k8spod-xcom MARKER COMMAND...``, the marker kept in an annotation.

    The main container needs a ``command`` (``cmds``): the image's entrypoint is unknown here, so it
    cannot be wrapped; without one this is a :class:`PodSpecError`. Wrapping twice wraps once.
    """
    pod = copy.deepcopy(pod)
    main = _mount_xcom_volume(pod, main_container, "logs")
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    command = list(main.get("command") or [])
    args = list(main.get("args") or [])
    if command[:4] == ["sh", "-c", XCOM_LOGS_SCRIPT, "k8spod-xcom"] and len(command) > 4:
        command, args = command[5:], args  # already wrapped: wrap the user's command again, with this marker
    if not command:
        raise PodSpecError(
            f"container {main_container!r}: xcom_transport='logs' wraps the container's command to print the "
            "result, but it has none (cmds) and the image's entrypoint is not known here; set cmds (e.g. "
            "cmds=['python', 'job.py']) or choose another xcom_transport"
        )
    marker = xcom_marker(token)
    annotations[XCOM_MARKER_ANNOTATION] = marker
    main["command"] = ["sh", "-c", XCOM_LOGS_SCRIPT, "k8spod-xcom", marker, *command, *args]
    main.pop("args", None)
    return pod


def pod_xcom_marker(pod: Mapping[str, Any]) -> str | None:
    """The log marker a pod was built with (``xcom_transport='logs'``), or None."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(XCOM_MARKER_ANNOTATION)
    return str(value) if value else None


class LogResultCollector:
    """Takes the result lines of the ``logs`` transport out of the main container's log (pure, fed line by
    line). :meth:`take` says whether a line was the result's (then it must not be logged); :meth:`result`
    decodes what was collected once the container has ended. The last complete block wins (a restarted
    container prints it again)."""

    def __init__(self, marker: str, *, max_size: int) -> None:
        self.marker = marker
        self.max_size = max_size
        self._parts: list[str] | None = None
        self._size = 0
        self._done: bytes | None = None
        self._none = False
        self._error: str | None = None
        self._too_large = False
        self._lines = 0

    def take(self, text: str) -> bool:
        if not text.startswith(self.marker):
            return False
        rest = text[len(self.marker) :].strip()
        if rest == "begin":
            self._parts, self._size, self._too_large, self._error = [], 0, False, None
            self._lines = 0
        elif rest == "none":
            self._parts, self._done, self._none, self._error = None, None, True, None
        elif rest == "end" or rest.startswith("end "):
            count = rest[len("end ") :]
            if self._parts is not None and not self._too_large and count and count != str(self._lines):
                self._error = (
                    f"{count} result lines were printed, {self._lines} arrived: lines of the log were lost"
                )
            elif self._parts is not None and not self._too_large:
                import base64
                import binascii

                try:
                    self._done = base64.b64decode("".join(self._parts), validate=True)
                    self._none, self._error = False, None
                except (binascii.Error, ValueError):
                    self._error = "the result lines in the log are not valid base64 (were lines lost?)"
            self._parts = None
        elif rest.startswith("error "):
            self._error = rest[len("error ") :]
        elif self._parts is not None:
            self._lines += 1
            self._size += len(rest) * 3 // 4 - rest.count("=")  # the bytes this base64 line decodes to
            if self._size > self.max_size:
                self._too_large = True
                self._parts = []
                self._error = (
                    f"{XCOM_RETURN_FILE} is larger than the limit of {self.max_size} bytes (max_xcom_size); "
                    "write a smaller result, e.g. a reference to where the data is"
                )
            elif not self._too_large:
                self._parts.append(rest)
        return True

    def result(self, container: str) -> Any:
        """The value, :data:`NO_RESULT` (no file, or an empty one), or an :class:`XComResultError`."""
        if self._error is not None:
            raise XComResultError(
                f"reading the XCom result from the log of container {container!r}: {self._error}"
            )
        if self._done is not None:
            return parse_xcom_result(self._done, 0)
        if self._none:
            return NO_RESULT
        raise XComResultError(
            f"the XCom result was not found in the log of container {container!r} (xcom_transport='logs'): "
            "the container's command did not return (killed?), or its log could not be read to the end"
        )
