"""Kubernetes ``Status`` error bodies, worded as kube-apiserver words them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_k8spod.testing._util import JSON

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def default_reason(code: int) -> str:
    return _REASONS.get(code, "Unknown")


@dataclass(frozen=True)
class Cause:
    """One entry of ``Status.details.causes`` (a field error)."""

    reason: str
    message: str
    field: str = ""

    def to_json(self) -> JSON:
        out: JSON = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ApiError(Exception):
    """An error answered with a ``Status`` body."""

    code: int
    message: str
    reason: str = ""
    details: JSON | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason:
            self.reason = default_reason(self.code)
        super().__init__(self.message)

    def status(self) -> JSON:
        return status_body(self.code, self.message, self.reason, self.details)


def status_body(code: int, message: str, reason: str | None = None, details: JSON | None = None) -> JSON:
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or default_reason(code),
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details: JSON | None = None) -> JSON:
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    return body


def _details(resource: str, name: str | None, group: str = "") -> JSON:
    details: JSON = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404, f'{_qualified(resource, group)} "{name}" not found', "NotFound", _details(resource, name, group)
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        f'{_qualified(resource, group)} "{name}" already exists',
        "AlreadyExists",
        _details(resource, name, group),
    )


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        "Conflict",
        _details(resource, name, group),
    )


def stale_conflict(resource: str, name: str, group: str = "") -> ApiError:
    return conflict(
        resource,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
        group,
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> ApiError:
    """422 for a failed validation, message ``Kind[.group] "name" is invalid: <errors>`` like the API
    server."""
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: JSON = {"name": name}
    if group:
        details["group"] = group
    details.update(kind=kind, causes=[c.to_json() for c in causes])
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{qualified} "{name}" is invalid: {summary}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(user: str, verb: str, resource: str, namespace: str | None, name: str | None) -> ApiError:
    base_resource = resource.split("/", 1)[0]
    subject = f'{base_resource} "{name}"' if name else base_resource
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group ""{where}'
    )
    return ApiError(403, message, "Forbidden", _details(base_resource, name))


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "the server does not allow this method on the requested resource", "MethodNotAllowed", {}
    )


def path_not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def expired(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def _retry_after(retry_after: float | None) -> tuple[dict[str, str], JSON | None]:
    """The ``Retry-After`` header and the ``retryAfterSeconds`` detail (whole seconds, at least 1)."""
    if retry_after is None:
        return {}, None
    seconds = max(1, round(retry_after))
    return {"Retry-After": str(seconds)}, {"retryAfterSeconds": seconds}


def too_many_requests(retry_after: float | None, message: str | None = None) -> ApiError:
    headers, details = _retry_after(retry_after)
    return ApiError(
        429, message or "Too many requests, please try again later.", "TooManyRequests", details, headers
    )


def internal_error(message: str) -> ApiError:
    return ApiError(
        500, f"Internal error occurred: {message}", "InternalError", {"causes": [{"message": message}]}
    )


def service_unavailable(message: str | None = None, retry_after: float | None = None) -> ApiError:
    headers, details = _retry_after(retry_after)
    return ApiError(
        503,
        message or "the server is currently unable to handle the request",
        "ServiceUnavailable",
        details,
        headers,
    )


def injected(code: int, message: str | None, retry_after: float | None) -> ApiError:
    """An error requested through the fault API, shaped like the API server's own answer for that code."""
    if code == 429:
        return too_many_requests(retry_after, message)
    if code == 503:
        return service_unavailable(message, retry_after)
    if code == 500:
        err = internal_error(message or "injected fault")
        if retry_after is not None:
            err.headers["Retry-After"] = str(max(1, round(retry_after)))
        return err
    if code == 504:
        return ApiError(
            504, message or "Timeout: request did not complete within the allotted timeout", "Timeout", {}
        )
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    return ApiError(code, message or f"injected fault ({code})", default_reason(code), None, headers)


def details_for(value: Any) -> JSON | None:
    return value if isinstance(value, dict) else None
