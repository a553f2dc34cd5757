"""The sans-I/O core of both hooks: it prepares every request and interprets every response.

Modelled on lightkube's ``GenericClient``: the sync and async hooks only move bytes (through the
``kubernetes`` and ``kubernetes_asyncio`` clients' HTTP sessions); what to send, how to read the answer,
which errors to raise and how to parse watch streams and exec channels lives here, once.

Objects are plain JSON dicts, exactly as the API sends them (``kubectl get -o json``).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_k8spod.exceptions import (
    AlreadyExistsError,
    ApiUnavailableError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    KubernetesApiError,
    NotFoundError,
    TLSVerificationError,
    UnauthorizedError,
)

#: Read timeout of an ordinary (non-streaming) request, seconds.
REQUEST_TIMEOUT = 60.0
CONNECT_TIMEOUT = 15.0
#: Server-side timeout asked for each watch request; the client waits a little longer.
WATCH_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request to the API server, and how to describe it in errors."""

    verb: str  # the RBAC verb: get, list, watch, create, patch, delete
    resource: str  # pods, pods/log, pods/exec, events
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str = "application/json"
    what: str = ""  # 'pod "x" in namespace "y"'
    stream: bool = False
    read_timeout: float | None = REQUEST_TIMEOUT

    @property
    def url_path(self) -> str:
        return f"{self.path}?{urlencode(self.query)}" if self.query else self.path

    def encoded_body(self) -> bytes | None:
        return None if self.body is None else json.dumps(self.body).encode()


def request_headers(request: ApiRequest, user_agent: str) -> dict[str, str]:
    """Headers of a request, before authentication."""
    headers = {"Accept": "application/json", "User-Agent": user_agent}
    if request.body is not None:
        headers["Content-Type"] = request.content_type
    return headers


def _q(value: str) -> str:
    return quote(value, safe="")


def _pod_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    path = f"/api/v1/namespaces/{_q(namespace)}/pods"
    if name is not None:
        path += f"/{_q(name)}"
    if sub:
        path += f"/{sub}"
    return path


def describe_pod(name: str | None, namespace: str) -> str:
    return f'pod "{name}" in namespace "{namespace}"' if name else f'pods in namespace "{namespace}"'


# -- request builders ---------------------------------------------------------------------------------


def create_pod(pod: Mapping[str, Any]) -> ApiRequest:
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    name = meta.get("name") or f"{meta.get('generateName', '')}*"
    return ApiRequest(
        "create", "pods", "POST", _pod_path(namespace), body=dict(pod), what=describe_pod(name, namespace)
    )


def get_pod(name: str, namespace: str) -> ApiRequest:
    return ApiRequest("get", "pods", "GET", _pod_path(namespace, name), what=describe_pod(name, namespace))


def list_pods(
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    resource_version: str | None = None,
) -> ApiRequest:
    query = _selectors(label_selector, field_selector)
    if resource_version is not None:
        query.append(("resourceVersion", resource_version))
    if namespace is None:  # every namespace
        return ApiRequest("list", "pods", "GET", "/api/v1/pods", tuple(query), what="pods in every namespace")
    return ApiRequest(
        "list", "pods", "GET", _pod_path(namespace), tuple(query), what=describe_pod(None, namespace)
    )


def watch_pods(
    namespace: str,
    *,
    resource_version: str,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
) -> ApiRequest:
    query = _selectors(label_selector, field_selector)
    query += [
        ("watch", "true"),
        ("resourceVersion", resource_version),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", str(timeout_seconds)),
    ]
    return ApiRequest(
        "watch",
        "pods",
        "GET",
        _pod_path(namespace),
        tuple(query),
        what=describe_pod(None, namespace),
        stream=True,
        read_timeout=timeout_seconds + 30.0,
    )


def delete_pod(name: str, namespace: str, *, grace_period_seconds: int | None = None) -> ApiRequest:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = int(grace_period_seconds)
    return ApiRequest(
        "delete", "pods", "DELETE", _pod_path(namespace, name), body=body, what=describe_pod(name, namespace)
    )


def patch_pod_metadata(
    name: str,
    namespace: str,
    *,
    labels: Mapping[str, str | None] | None = None,
    annotations: Mapping[str, str | None] | None = None,
    active_deadline_seconds: int | None = None,
) -> ApiRequest:
    metadata: dict[str, Any] = {}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    body: dict[str, Any] = {"metadata": metadata}
    if active_deadline_seconds is not None:  # the one spec field a running pod lets lower
        body["spec"] = {"activeDeadlineSeconds": active_deadline_seconds}
    return ApiRequest(
        "patch",
        "pods",
        "PATCH",
        _pod_path(namespace, name),
        body=body,
        content_type="application/merge-patch+json",
        what=describe_pod(name, namespace),
    )


def pod_logs(
    name: str,
    namespace: str,
    *,
    container: str | None = None,
    follow: bool = False,
    timestamps: bool = False,
    since_time: str | None = None,
    since_seconds: int | None = None,
    tail_lines: int | None = None,
    limit_bytes: int | None = None,
    previous: bool = False,
    read_timeout: float | None = REQUEST_TIMEOUT,
) -> ApiRequest:
    """``sinceTime`` (RFC 3339) is sent as a raw query parameter: the generated clients cannot send it."""
    query: list[tuple[str, str]] = []
    if container:
        query.append(("container", container))
    if follow:
        query.append(("follow", "true"))
    if timestamps:
        query.append(("timestamps", "true"))
    if since_time:
        query.append(("sinceTime", since_time))
    if since_seconds is not None:
        query.append(("sinceSeconds", str(int(since_seconds))))
    if tail_lines is not None:
        query.append(("tailLines", str(int(tail_lines))))
    if limit_bytes is not None:
        query.append(("limitBytes", str(int(limit_bytes))))
    if previous:
        query.append(("previous", "true"))
    what = (
        "pods/log of " + describe_pod(name, namespace) + (f', container "{container}"' if container else "")
    )
    return ApiRequest(
        "get",
        "pods/log",
        "GET",
        _pod_path(namespace, name, "log"),
        tuple(query),
        what=what,
        stream=True,
        read_timeout=read_timeout,
    )


def _event_selector(name: str | None, uid: str | None) -> str:
    """Events of the pod ``name`` (``None``: of every pod in the namespace)."""
    selector = "involvedObject.kind=Pod"
    if name is not None:
        selector += f",involvedObject.name={name}"
    if uid:
        selector += f",involvedObject.uid={uid}"
    return selector


def list_pod_events(name: str | None, namespace: str, *, uid: str | None = None) -> ApiRequest:
    return ApiRequest(
        "list",
        "events",
        "GET",
        f"/api/v1/namespaces/{_q(namespace)}/events",
        (("fieldSelector", _event_selector(name, uid)),),
        what=f"events of {describe_pod(name, namespace)}",
    )


def watch_pod_events(
    name: str | None,
    namespace: str,
    *,
    resource_version: str,
    uid: str | None = None,
    timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
) -> ApiRequest:
    return ApiRequest(
        "watch",
        "events",
        "GET",
        f"/api/v1/namespaces/{_q(namespace)}/events",
        (
            ("fieldSelector", _event_selector(name, uid)),
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ),
        what=f"events of {describe_pod(name, namespace)}",
        stream=True,
        read_timeout=timeout_seconds + 30.0,
    )


def pod_exec(
    name: str, namespace: str, command: Sequence[str], *, container: str | None = None
) -> ApiRequest:
    query: list[tuple[str, str]] = [("command", part) for part in command]
    if container:
        query.append(("container", container))
    query += [("stdin", "false"), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    what = (
        "pods/exec of " + describe_pod(name, namespace) + (f', container "{container}"' if container else "")
    )
    return ApiRequest(
        "create", "pods/exec", "GET", _pod_path(namespace, name, "exec"), tuple(query), what=what, stream=True
    )


def get_version() -> ApiRequest:
    return ApiRequest("get", "version", "GET", "/version", what="the API server version")


def list_namespaced_pods_probe(namespace: str) -> ApiRequest:
    """A cheap request that tells whether pods in ``namespace`` may be listed (used by test_connection)."""
    return ApiRequest(
        "list", "pods", "GET", _pod_path(namespace), (("limit", "1"),), what=describe_pod(None, namespace)
    )


def _selectors(label_selector: str | None, field_selector: str | None) -> list[tuple[str, str]]:
    query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


# -- response interpretation ----------------------------------------------------------------------------

_ERRORS_BY_STATUS: dict[int, type[KubernetesApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: ExpiredError,
    422: InvalidError,
}


#: Status reasons of the API server, for error responses whose body is not a ``Status`` (e.g. a websocket
#: handshake refusal, whose body the client library does not expose).
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def describe_connection(conn_id: str | None) -> str:
    """How errors name where the credentials came from."""
    return f"connection {conn_id!r}" if conn_id else "no connection (in-cluster or the local kubeconfig)"


def api_error(
    request: ApiRequest,
    status: int,
    body: bytes | str | None,
    *,
    conn_id: str | None = None,
    headers: Any = None,
) -> KubernetesApiError:
    """The exception for an unsuccessful response, worded from the API's own ``Status`` object.

    ``conn_id`` is the Airflow connection the credentials came from, named by a 401. The error is a
    ``kubernetes`` ``ApiException`` too: ``body`` (text) and ``headers`` are kept as it keeps them.
    """
    parsed: Any = None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        reason = parsed.get("reason") or ""
        api_message = parsed.get("message") or ""
    else:
        reason = _REASONS.get(status, "")
        api_message = text.strip()[:500]
    cls = _ERRORS_BY_STATUS.get(status, KubernetesApiError)
    if status == 409 and reason == "AlreadyExists":
        cls = AlreadyExistsError
    if status in (429, 500, 502, 503, 504):
        cls = ApiUnavailableError
    detail = " ".join(part for part in (str(status), reason) if part)
    message = f"{request.verb} {request.what or request.path}: {detail}"
    if api_message:
        message += f": {api_message}"
    if status == 401:
        message += (
            f" (the credentials of {describe_connection(conn_id)} were not accepted: check its token, client "
            "certificate or kubeconfig user, and whether they expired)"
        )
    if status == 403:
        if request.resource == "pods/exec":
            # An exec over a WebSocket (a GET) is checked for both verbs from Kubernetes 1.35 on; the
            # handshake's 403 carries no Status body to say which one was missing.
            message += " (the service account needs RBAC verbs 'create' and 'get' on 'pods/exec')"
        else:
            message += f" (the service account needs RBAC verb {request.verb!r} on {request.resource!r})"
    return cls(
        message,
        status=status,
        reason=reason or None,
        api_message=api_message or None,
        verb=request.verb,
        what=request.what,
        body=text or None,
        headers=headers,
        status_object=parsed if isinstance(parsed, dict) else None,
    )


def connection_error(
    request: ApiRequest, exc: BaseException, *, conn_id: str | None = None
) -> ApiUnavailableError | TLSVerificationError:
    """The exception for a request that got no answer: retried (:class:`ApiUnavailableError`), except a
    failed TLS certificate verification, which no retry can fix (:class:`TLSVerificationError`)."""
    failure = certificate_failure(exc)
    if failure is not None:
        reason = getattr(failure, "verify_message", None) or str(failure)
        return TLSVerificationError(
            f"{request.verb} {request.what or request.path}: the API server's TLS certificate could not be "
            f"verified ({reason}). Give {describe_connection(conn_id)} the cluster's CA certificate (extra "
            "'ca_cert', or certificate-authority-data in its kubeconfig), or, only where an unverified "
            "connection is acceptable, set its extra 'disable_verify_ssl' to true",
            verb=request.verb,
            what=request.what,
        )
    text = str(exc) or type(exc).__name__
    return ApiUnavailableError(
        f"{request.verb} {request.what or request.path}: cannot reach the API server "
        f"({type(exc).__name__}: {text[:300]})",
        verb=request.verb,
        what=request.what,
    )


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a connection error, if that is what it is.

    urllib3 wraps it in ``SSLError`` (``args[0]``), aiohttp in ``ClientConnectorCertificateError``
    (``certificate_error``), websocket-client raises it as it is; others chain it (``__cause__``).
    """
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            # aiohttp's error is one too; the one it wraps has the TLS library's own words.
            inner = getattr(current, "certificate_error", None)
            return inner if isinstance(inner, ssl.SSLCertVerificationError) else current
        pending += [getattr(current, "certificate_error", None), getattr(current, "reason", None)]
        pending += [current.__cause__, current.__context__, *current.args]
    return None


def decode_json(request: ApiRequest, body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        raise KubernetesApiError(
            f"{request.verb} {request.what}: the API server sent a body that is not JSON",
            verb=request.verb,
            what=request.what,
        ) from None


# -- watch streams --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK."""

    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        rv = (self.object.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None


@dataclass
class WatchDecoder:
    """Turns the bytes of a watch response into :class:`WatchEvent` objects (sans-I/O).

    An ``ERROR`` event raises: :class:`ExpiredError` for 410 (the resourceVersion is too old; relist),
    otherwise the matching :class:`KubernetesApiError`.
    """

    request: ApiRequest
    _buffer: bytes = field(default=b"")

    def feed(self, chunk: bytes) -> Iterator[WatchEvent]:
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            event = self._parse(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[WatchEvent]:
        rest, self._buffer = self._buffer, b""
        event = self._parse(rest)
        if event is not None:
            yield event

    def _parse(self, line: bytes) -> WatchEvent | None:
        line = line.strip()
        if not line:
            return None
        try:
            data = json.loads(line)
        except ValueError:
            raise KubernetesApiError(
                f"watch {self.request.what}: the API server sent a line that is not JSON",
                verb="watch",
                what=self.request.what,
            ) from None
        kind = data.get("type")
        obj = data.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            raise api_error(self.request, code, json.dumps(obj).encode())
        return WatchEvent(str(kind), obj)


# -- exec channels --------------------------------------------------------------------------------------

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT_CHANNEL, STDERR_CHANNEL, ERROR_CHANNEL, CLOSE_CHANNEL = 1, 2, 3, 255


@dataclass(frozen=True)
class ExecResult:
    """Output and outcome of a command run in a container."""

    stdout: bytes
    stderr: bytes
    exit_code: int | None
    status: dict[str, Any] | None

    @property
    def failure_message(self) -> str:
        if self.status and self.status.get("message"):
            return str(self.status["message"])
        return self.stderr.decode("utf-8", "replace").strip()[-500:]


@dataclass
class ExecCollector:
    """Collects the frames of an exec websocket (v4/v5 channel protocol), with a cap on stdout (sans-I/O)."""

    max_stdout: int | None = None
    max_stderr: int = 64 * 1024
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    status: dict[str, Any] | None = None
    overflow: bool = False

    def feed(self, frame: bytes) -> None:
        if not frame:
            return
        channel, data = frame[0], frame[1:]
        if channel == STDOUT_CHANNEL:
            if self.max_stdout is not None and len(self.stdout) + len(data) > self.max_stdout:
                self.overflow = True
                self.stdout += data[: max(0, self.max_stdout - len(self.stdout))]
            else:
                self.stdout += data
        elif channel == STDERR_CHANNEL:
            self.stderr += data[: max(0, self.max_stderr - len(self.stderr))]
        elif channel == ERROR_CHANNEL and data:
            try:
                self.status = json.loads(data)
            except ValueError:
                self.status = {"status": "Failure", "message": data.decode("utf-8", "replace")}

    @property
    def done(self) -> bool:
        return self.status is not None or self.overflow

    def result(self) -> ExecResult:
        return ExecResult(bytes(self.stdout), bytes(self.stderr), exit_code_of(self.status), self.status)


def exit_code_of(status: Mapping[str, Any] | None) -> int | None:
    """The command's exit code from the exec status object (None when the stream ended without one)."""
    if status is None:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                return None
    return None
