"""Exceptions raised by this provider.

They derive from Airflow's ``AirflowException`` so that Airflow reports them like any task error.

Code written for upstream ``cncf-kubernetes`` keeps catching what it caught there:

- Kubernetes API errors (:class:`KubernetesApiError` and its subclasses) are also
  ``kubernetes.client.exceptions.ApiException`` (and its ``NotFoundException``, ``ForbiddenException``, ...
  where the installed ``kubernetes`` has them), with ``status``, ``reason``, ``body`` and ``headers`` filled
  as ``ApiException`` fills them, while ``str()`` keeps this provider's message. The ``kubernetes`` base is
  added when an error is made (the library is loaded by then), so importing this module, and parsing a DAG,
  does not import ``kubernetes``.
- Upstream's public exception classes exist here with the same names and bases (``AirflowException``),
  and this provider's own errors derive from them where they mean the same: :class:`PodStartupError` is a
  :class:`PodLaunchFailedException` (and :class:`PodStartupTimeoutError` a
  :class:`PodLaunchTimeoutException`), :class:`XComResultError` an :class:`XComRetrievalError`,
  :class:`ExecError` a :class:`PodCommandException`, :class:`ApiUnavailableError` a
  :class:`KubernetesApiException`, :class:`ForbiddenError` a :class:`KubernetesApiPermissionError`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException


class K8sPodError(AirflowException):
    """Base class of every error this provider raises on purpose."""


# -- upstream's public exception classes (same names; see the module docstring for which are raised) ------


class PodReattachFailure(AirflowException):
    """Upstream's: a pod that should be found could not be (not raised here)."""


class PodCredentialsExpiredFailure(AirflowException):
    """Upstream's: credentials expired while following a pod (not raised here: both hooks refresh
    credentials themselves, and a rejected request fails at once with :class:`UnauthorizedError`)."""


class FoundMoreThanOnePodFailure(AirflowException):
    """Upstream's: several pods of this task instance were found when reattaching (not raised here: the
    newest live pod is adopted and the others are deleted, see docs/operator.md)."""


class PodLaunchFailedException(AirflowException):
    """Upstream's: the pod failed to start. Raised here as :class:`PodStartupError`."""


class PodLaunchTimeoutException(AirflowException):
    """Upstream's: the pod was not scheduled or started in time. Raised here as
    :class:`PodStartupTimeoutError`."""


class PodNotFoundException(AirflowException):
    """Upstream's: an expected pod does not exist (not raised here: a pod deleted under the task fails it
    with :class:`PodFailedError` or :class:`PodStartupError`, reason ``Deleted``)."""


class PodCommandException(AirflowException):
    """Upstream's: a command run in a pod failed. Raised here as :class:`ExecError`."""


class XComRetrievalError(AirflowException):
    """Upstream's: the XCom result could not be read. Raised here as :class:`XComResultError`."""


class KubernetesApiException(AirflowException):
    """Upstream's: the Kubernetes API could not be reached. Raised here as :class:`ApiUnavailableError`."""


class KubernetesApiPermissionError(AirflowException):
    """Upstream's: the API refused a request for lack of permission. Raised here as
    :class:`ForbiddenError`."""


class PodMutationHookException(AirflowException):
    """Upstream's: the cluster policy ``pod_mutation_hook`` failed (not raised here: its own exception
    propagates, or :class:`PodSpecError` when the pod it left is invalid)."""


class PodReconciliationError(AirflowException):
    """Upstream's: pod configurations could not be merged (not raised here: see docs/pod-spec.md)."""


# -- this provider's errors ---------------------------------------------------------------------------------


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

    Every instance is also a ``kubernetes.client.exceptions.ApiException`` (the subclass for its status,
    ``NotFoundException`` for a 404 and so on, where the installed ``kubernetes`` has one), so
    ``except ApiException`` written for upstream catches it, with ``status`` (None when the API server
    could not be reached), ``reason``, ``body`` (the response body as text), ``headers`` and ``data`` as
    ``ApiException`` has them. ``str()`` is this provider's message.
    """

    #: The name of the ``kubernetes.client.exceptions`` class this error also is (None: none).
    _kubernetes_class: str | None = "ApiException"

    def __new__(cls, *args: Any, **kwargs: Any) -> KubernetesApiError:
        error: KubernetesApiError = super().__new__(_with_api_exception(cls), *args)
        return error

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        api_message: str | None = None,
        verb: str | None = None,
        what: str | None = None,
        body: str | None = None,
        headers: Any = None,
        status_object: object = None,
    ) -> None:
        # Not super().__init__(): ApiException.__init__, later in the MRO, takes other arguments.
        Exception.__init__(self, message)
        self.status = status
        self.reason = reason
        self.api_message = api_message
        self.verb = verb
        self.what = what
        self.body = body
        self.headers = headers
        self.data: Any = None
        #: The API's ``Status`` object (``body`` parsed), when it sent one.
        self.status_object = status_object

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:
        declared = next(c for c in type(self).__mro__ if not c.__dict__.get("_k8spod_compat"))
        return (_rebuild_api_error, (declared, self.args, self.__dict__))


_COMPAT_CLASSES: dict[type[KubernetesApiError], type[KubernetesApiError]] = {}


def _with_api_exception(cls: type[KubernetesApiError]) -> type[KubernetesApiError]:
    """``cls`` with ``kubernetes``' exception class as a second base (made once per class)."""
    if cls.__dict__.get("_k8spod_compat") or cls._kubernetes_class is None:
        return cls
    made = _COMPAT_CLASSES.get(cls)
    if made is not None:
        return made
    from kubernetes.client import exceptions as kubernetes_exceptions

    base = getattr(kubernetes_exceptions, cls._kubernetes_class, kubernetes_exceptions.ApiException)
    namespace = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "_k8spod_compat": True,
    }
    return _COMPAT_CLASSES.setdefault(cls, type(cls.__name__, (cls, base), namespace))


def _rebuild_api_error(cls: type[KubernetesApiError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle a :class:`KubernetesApiError` (its class with the ``kubernetes`` base is made anew)."""
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class BadRequestError(KubernetesApiError):
    """400: the request is malformed (e.g. a log request for a container that is not running yet)."""

    _kubernetes_class = "BadRequestException"


class UnauthorizedError(KubernetesApiError):
    """401: the credentials were not accepted."""

    _kubernetes_class = "UnauthorizedException"


class ForbiddenError(KubernetesApiError, KubernetesApiPermissionError):
    """403: RBAC does not allow the operation."""

    _kubernetes_class = "ForbiddenException"


class NotFoundError(KubernetesApiError):
    """404: the object (or its namespace) does not exist."""

    _kubernetes_class = "NotFoundException"


class ConflictError(KubernetesApiError):
    """409: a conflict; ``AlreadyExistsError`` when creating an object whose name is taken."""

    _kubernetes_class = "ConflictException"


class AlreadyExistsError(ConflictError):
    """409 AlreadyExists on create."""


class ExpiredError(KubernetesApiError):
    """410: a watch or list resourceVersion is too old; relist and watch again.

    The hooks' signal to relist, handled inside this provider: not an ``ApiException`` (so that a watch
    on the triggerer never loads the ``kubernetes`` library just to say so)."""

    _kubernetes_class = None


class InvalidError(KubernetesApiError):
    """422: the object failed the API server's validation."""

    _kubernetes_class = "UnprocessableEntityException"


class ApiUnavailableError(KubernetesApiError, KubernetesApiException):
    """The API stayed unavailable (429/5xx/connection errors) for the whole retry budget."""

    _kubernetes_class = "ServiceException"


class TLSVerificationError(KubernetesApiError):
    """The API server's TLS certificate could not be verified (unknown CA, wrong host name, expired).

    Never retried: the message hints at the connection's ``ca_cert`` and ``disable_verify_ssl`` extras.
    """


class ExecError(K8sPodError, PodCommandException):
    """A command run in a container through exec failed, or its output exceeded the size limit."""


class ExecOutputTooLargeError(ExecError):
    """The command's output was larger than the limit it was read with (``max_stdout``)."""


class ExecInterruptedError(ExecError):
    """The exec stream ended before the command's status arrived (a cut connection, or the receive
    timeout): the command's output may be incomplete. Running an idempotent command again may succeed."""


class XComResultError(K8sPodError, XComRetrievalError):
    """The main container's XCom result (``/airflow/xcom/return.json``) could not be read or parsed."""


class PodStartupError(K8sPodError, PodLaunchFailedException):
    """The pod did not start: a fatal waiting reason, a failed init container, or a timeout.

    The message gives the Kubernetes reason, the container and the last warning events. A start that
    timed out raises :class:`PodStartupTimeoutError`.
    """

    def __init__(self, message: str, *, reason: str = "", record: object = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.record = record


class PodStartupTimeoutError(PodStartupError, PodLaunchTimeoutException):
    """The pod was not scheduled (reason ``ScheduleTimeout``) or did not start (``StartupTimeout``) in
    time."""


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
