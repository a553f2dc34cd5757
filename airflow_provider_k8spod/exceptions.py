"""Exceptions raised by this provider.

They derive from Airflow's ``AirflowException`` so that Airflow reports them like any task error.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class K8sPodError(AirflowException):
    """Base class of every error this provider raises on purpose."""


class ConnectionConfigError(K8sPodError, ValueError):
    """A connection, kubeconfig or operator argument cannot select a cluster.

    The message names the connection id and the field. Raised before any API call.
    """


class PodSpecError(K8sPodError, ValueError):
    """Operator arguments or a manifest cannot make a valid pod. The message names the field path."""


class CredentialError(K8sPodError):
    """A kubeconfig's credentials (exec plugin, OIDC refresh, token file) could not produce a token."""


class KubernetesApiError(K8sPodError):
    """The Kubernetes API refused or failed a request.

    The message names the operation, the object (pod and namespace) and the API's own status, reason and
    message, e.g. ``get pod "x" in namespace "ns": 404 NotFound: pods "x" not found``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        api_message: str | None = None,
        verb: str | None = None,
        what: str | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.api_message = api_message
        self.verb = verb
        self.what = what
        self.body = body


class BadRequestError(KubernetesApiError):
    """400: the request is malformed (e.g. a log request for a container that is not running yet)."""


class UnauthorizedError(KubernetesApiError):
    """401: the credentials were not accepted."""


class ForbiddenError(KubernetesApiError):
    """403: RBAC does not allow the operation."""


class NotFoundError(KubernetesApiError):
    """404: the object (or its namespace) does not exist."""


class ConflictError(KubernetesApiError):
    """409: a conflict; ``AlreadyExistsError`` when creating an object whose name is taken."""


class AlreadyExistsError(ConflictError):
    """409 AlreadyExists on create."""


class ExpiredError(KubernetesApiError):
    """410: a watch or list resourceVersion is too old; relist and watch again."""


class InvalidError(KubernetesApiError):
    """422: the object failed the API server's validation."""


class ApiUnavailableError(KubernetesApiError):
    """The API stayed unavailable (429/5xx/connection errors) for the whole retry budget."""


class TLSVerificationError(KubernetesApiError):
    """The API server's TLS certificate could not be verified (unknown CA, wrong host name, expired).

    Never retried: the message hints at the connection's ``ca_cert`` and ``disable_verify_ssl`` extras.
    """


class ExecError(K8sPodError):
    """A command run in a container through exec failed, or its output exceeded the size limit."""


class ExecOutputTooLargeError(ExecError):
    """The command's output was larger than the limit it was read with (``max_stdout``)."""


class ExecInterruptedError(ExecError):
    """The exec stream ended before the command's status arrived (a cut connection, or the receive
    timeout): the command's output may be incomplete. Running an idempotent command again may succeed."""


class XComResultError(K8sPodError):
    """The main container's XCom result (``/airflow/xcom/return.json``) could not be read or parsed."""


class PodStartupError(K8sPodError):
    """The pod did not start: a fatal waiting reason, a failed init container, or a timeout.

    The message gives the Kubernetes reason, the container and the last warning events.
    """

    def __init__(self, message: str, *, reason: str = "", record: object = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.record = record


class PodFailedError(K8sPodError):
    """The pod ran and the task failed; ``record`` is the structured FailureRecord."""

    def __init__(self, message: str, *, record: object = None) -> None:
        super().__init__(message)
        self.record = record


class PodCleanupError(K8sPodError):
    """The pod could not be deleted at the end of the task (``on_finish_action`` asked for it, or its main
    container had not finished): it is left in the cluster. The message names the pod and why."""


class PodAdoptionError(K8sPodError):
    """A pod of this task exists but cannot be adopted (e.g. its name belongs to another task)."""
