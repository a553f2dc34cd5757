"""Upstream's operator surface that user code touches (a mixin of the operator), on our one lifecycle.

Attributes, set while the task runs (``execute`` and, deferred, ``trigger_reentry``): ``pod_request_obj``
(the request, a ``V1Pod``), ``pod`` (the pod as created or adopted), ``remote_pod`` (the last state read),
``hook`` (our sync :class:`~airflow_provider_k8spod.hooks.kubernetes.KubernetesHook`), ``client`` (a
``kubernetes.client.CoreV1Api``) and ``pod_manager`` (:class:`PodManager`, a small adapter).

Methods with upstream's names, signatures and meaning: ``find_pod``, ``get_or_create_pod``, ``cleanup``,
``patch_already_checked``, ``process_pod_deletion``. They decide with the same pure functions the lifecycle
uses (:func:`~airflow_provider_k8spod.pod.lifecycle.cleanup_action`, ...), so calling them gives what the
lifecycle itself does; a subclass that overrides one of them is honoured: the operator calls the override
where upstream calls it (see docs/migrating.md, "Operator attributes and methods").
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.exceptions import ExpiredError, XComResultError
from airflow_provider_k8spod.pod import status as st
from airflow_provider_k8spod.pod.identity import TaskIdentity, pod_try_number
from airflow_provider_k8spod.pod.lifecycle import (
    CHECKED_LABEL,
    PodLifecycle,
    cleanup_action,
    newest_first,
    task_pods_selector,
)
from airflow_provider_k8spod.pod.normalize import to_api, to_model
from airflow_provider_k8spod.pod.spec import main_container_name
from airflow_provider_k8spod.pod.validation import validate_pod
from airflow_provider_k8spod.pod.xcom import (
    NO_FILE_EXIT_CODE,
    XCOM_READ_COMMAND,
    XCOM_SIDECAR_NAME,
    XCOM_SIDECAR_STOP_COMMAND,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    _Base = BaseOperator
else:
    _Base = object

__all__ = ["EMPTY_XCOM_RESULT", "Later", "ObservedPod", "PodManager", "UpstreamSurface", "pod_as_dict"]

#: What upstream's ``extract_xcom`` returns when the main container wrote no result.
EMPTY_XCOM_RESULT = "__airflow_xcom_result_empty__"

#: The methods whose override by a subclass the operator honours, and where upstream calls them.
_CREATE_METHODS = ("get_or_create_pod", "find_pod")
_CLEANUP_METHODS = ("cleanup", "process_pod_deletion", "patch_already_checked")


def pod_as_dict(pod: Any, what: str = "pod") -> dict[str, Any]:
    """A ``V1Pod`` (or a dict in either case) as canonical camelCase JSON."""
    result: dict[str, Any] = to_api(pod, "V1Pod", what)
    return result


def _name(pod: Any) -> tuple[str, str]:
    meta = pod_as_dict(pod).get("metadata") or {}
    return str(meta.get("name")), str(meta.get("namespace") or "default")


class ObservedPod(dict[str, Any]):
    """A pod's JSON as the lifecycle reported it: made a ``V1Pod`` only when user code reads it (most
    tasks never do, and the conversion imports ``kubernetes``)."""


class Later:
    """A value made when first read: ``make()`` sets the attribute (``pod_request_obj`` on re-entry)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def _pod_attribute(slot: str, doc: str) -> Any:
    def get(self: Any) -> Any:
        value = self.__dict__.get(slot)
        if isinstance(value, Later):
            self.__dict__[slot] = None
            try:
                value.make()
            except Exception as exc:
                self.log.warning("%s is not available: %s", slot.removeprefix("_k8spod_"), exc)
            value = self.__dict__.get(slot)
        if isinstance(value, ObservedPod):
            value = self.__dict__[slot] = to_model(dict(value), "V1Pod")
        return value

    def set_(self: Any, value: Any) -> None:
        self.__dict__[slot] = value

    return property(get, set_, doc=doc)


class UpstreamSurface(_Base):
    """``pod``, ``remote_pod``, ``hook``, ``pod_manager``, ``find_pod``, ``get_or_create_pod``,
    ``cleanup``, ``patch_already_checked`` and ``process_pod_deletion`` (a mixin of the operator)."""

    POD_CHECKED_KEY: str
    _killed: bool
    _adopted: bool

    pod_request_obj = _pod_attribute(
        "_k8spod_pod_request_obj",
        "The pod requested, a ``V1Pod`` (set it before ``execute`` to create another).",
    )
    pod = _pod_attribute("_k8spod_pod", "The pod created or adopted, a ``V1Pod`` (None before it exists).")
    remote_pod = _pod_attribute("_k8spod_remote_pod", "The pod's last state read, a ``V1Pod``.")

    # --- what a subclass overrides --------------------------------------------------------------------------

    def _overrides(self, *names: str) -> bool:
        """Whether a subclass overrides one of these methods (then the operator calls it where upstream
        does; otherwise the lifecycle does the same work without the extra round trips)."""
        return any(getattr(type(self), n) is not getattr(UpstreamSurface, n) for n in names)

    # --- attributes -----------------------------------------------------------------------------------------

    @functools.cached_property
    def hook(self) -> KubernetesHook:
        """Our sync :class:`~airflow_provider_k8spod.hooks.kubernetes.KubernetesHook` for this task's cluster
        (its methods take and return plain dicts; ``hook.core_v1_client`` is a ``CoreV1Api``)."""
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        op: Any = self
        if op._access is not None:
            return KubernetesHook(op.kubernetes_conn_id, cluster_access=op._access)
        # Resolved on first use, as the operator resolves it.
        return KubernetesHook(
            op.kubernetes_conn_id,
            in_cluster=op.in_cluster,
            config_file=op.config_file,
            cluster_context=op.cluster_context,
        )

    @functools.cached_property
    def pod_manager(self) -> PodManager:
        """A small adapter with upstream's ``PodManager`` methods that subclasses use (see :class:`PodManager`)."""
        return PodManager(self.hook, log=self.log)

    # --- find, create or adopt ------------------------------------------------------------------------------

    def find_pod(self, namespace: str, context: Context, *, exclude_checked: bool = True) -> Any:
        """The newest pod of this task instance (any try, any phase) in ``namespace``, as a ``V1Pod``, or
        None. Pods labelled ``already_checked=True`` (kept at the end of an earlier try) are left out
        unless ``exclude_checked=False``. Several pods are not an error here: the newest wins, as when the
        operator adopts (upstream raises ``FoundMoreThanOnePodFailure`` with ``reattach_on_restart``)."""
        identity = TaskIdentity.from_context(context)
        selector = task_pods_selector(identity, exclude_checked=exclude_checked)
        pods = newest_first(list(self.hook.list_pods(namespace, label_selector=selector)))
        if not pods:
            return None
        pod = pods[0]
        self.log.info(
            "Found pod %s of this task instance (try %s, %s)",
            pod["metadata"]["name"],
            pod_try_number(pod),
            st.phase(pod) or "no phase yet",
        )
        return to_model(pod, "V1Pod")

    def get_or_create_pod(self, pod_request_obj: Any, context: Context) -> Any:
        """Adopt a still running pod of an earlier try of this task instance, or create the pod of
        ``pod_request_obj``; returns it as a ``V1Pod`` (the API's answer, not the request as upstream).

        The lifecycle's own create-or-adopt: a finished or already checked pod is never adopted, and with
        ``durable``/``reattach_on_restart`` False pods of earlier tries are deleted. A subclass's
        ``find_pod`` is asked first when it overrides ours."""
        from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook
        from airflow_provider_k8spod.operators._driver import run_on_loop_thread

        op: Any = self
        request = pod_as_dict(pod_request_obj, "pod_request_obj")
        validate_pod(request)
        identity = TaskIdentity.from_context(context)
        look = True
        if self._overrides("find_pod") and op.durable:
            namespace = str((request.get("metadata") or {}).get("namespace") or "default")
            found = self.find_pod(namespace, context)
            if found is not None:
                found_dict = pod_as_dict(found)
                if not st.is_finished(found_dict) and not found_dict["metadata"].get("deletionTimestamp"):
                    self.log.info("Adopting pod %s, found by find_pod", found_dict["metadata"]["name"])
                    self._adopted = True
                    return found
            look = False
        lifecycle = PodLifecycle(
            AsyncKubernetesHook(op.kubernetes_conn_id, cluster_access=op.cluster_access()),
            op.lifecycle_settings(),
            log=self.log,
        )
        pod, self._adopted = run_on_loop_thread(lifecycle.create_or_adopt(request, identity, look=look))
        return to_model(pod, "V1Pod")

    # --- cleanup --------------------------------------------------------------------------------------------

    def cleanup(
        self, pod: Any, remote_pod: Any, xcom_result: Any = None, context: Context | None = None
    ) -> None:
        """Apply ``on_finish_action`` to ``remote_pod``: delete it (:meth:`process_pod_deletion`), or keep
        it labelled ``already_checked=True`` (:meth:`patch_already_checked`) so no later try adopts it.

        Unlike upstream's, it does not decide the task: the operator does after cleanup, in one place, in
        both modes. A deletion that fails raises (the task fails, the pod is left). Nothing is done after a
        kill (``on_kill`` deleted the pod) or without a pod."""
        if self._killed or not remote_pod:
            return
        if not self.process_pod_deletion(remote_pod):
            self.patch_already_checked(remote_pod, reraise=False)

    def patch_already_checked(self, pod: Any, *, reraise: bool = True) -> None:
        """Label ``pod`` ``already_checked=True``: no later try adopts or finds it (``find_pod``)."""
        name, namespace = _name(pod)
        try:
            self.hook.patch_pod_metadata(name, namespace, labels={CHECKED_LABEL: "True"})
        except Exception as exc:
            if reraise:
                raise
            self.log.warning("Could not label pod %s/%s %s=True: %s", namespace, name, CHECKED_LABEL, exc)

    def process_pod_deletion(self, pod: Any, *, reraise: bool = True) -> bool:
        """Delete ``pod`` if ``on_finish_action`` says so for its state; returns whether it was deleted.

        The lifecycle's rule (:func:`~airflow_provider_k8spod.pod.lifecycle.cleanup_action`): a pod whose
        main container has not finished is always deleted, ``keep_pod`` included."""
        if pod is None:
            return False
        op: Any = self
        data = pod_as_dict(pod)
        name, namespace = _name(data)
        main = main_container_name(data)
        main_done = st.main_container_done(data, main)
        outcome = (
            st.decide(data, main=main, skip_on_exit_code=op.skip_on_exit_code).outcome if main_done else None
        )
        if not cleanup_action(op.on_finish_action, outcome, main_done, st.is_finished(data)):
            self.log.info("Keeping pod %s (on_finish_action=%s)", name, op.on_finish_action)
            return False
        self.log.info("Deleting pod %s (on_finish_action=%s)", name, op.on_finish_action)
        try:
            self.hook.delete_pod(name, namespace, grace_period_seconds=op.termination_grace_period)
        except Exception as exc:
            if reraise:
                raise
            self.log.warning("Deleting pod %s/%s failed: %s", namespace, name, exc)
            return False
        return True

    def _call_cleanup(self, xcom_result: Any, context: Context) -> None:
        """Call ``cleanup`` as upstream does, with only the keyword arguments an older override accepts."""
        parameters = inspect.signature(self.cleanup).parameters
        extra = {"xcom_result": xcom_result, "context": context}
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        kwargs = {k: v for k, v in extra.items() if takes_all or k in parameters}
        self.cleanup(pod=self.pod, remote_pod=self.remote_pod, **kwargs)


class PodManager:
    """A small adapter with the methods of upstream's ``PodManager`` that operator subclasses use, on our
    sync hook. Pods go in and come out as ``V1Pod`` models; API errors are ``ApiException`` subclasses.

    Provided: ``create_pod``, ``read_pod``, ``delete_pod``, ``read_pod_events``, ``read_pod_logs``,
    ``container_is_running``, ``container_is_terminated``, ``await_container_completion``,
    ``await_pod_completion``, ``await_xcom_sidecar_container_start`` and ``extract_xcom``. Waiting uses a
    watch, never a polling loop. Not provided (the operator's lifecycle does this work, once, for both
    modes): following logs into the task log and waiting for the start; asking for those raises an
    ``AttributeError`` that says so.
    """

    _NOT_PROVIDED = {
        "fetch_container_logs": "the operator follows logs itself (get_logs, container_logs)",
        "fetch_requested_container_logs": "the operator follows logs itself (get_logs, container_logs)",
        "fetch_requested_init_container_logs": "the operator follows logs itself (init_container_logs)",
        "await_pod_start": "the operator waits for the start itself (startup_timeout_seconds)",
        "watch_pod_events": "the operator streams events itself (log_events_on_startup)",
        "run_pod_async": "use create_pod",
        "extract_xcom_json": "use extract_xcom",
        "extract_xcom_kill": "extract_xcom stops the sidecar",
    }

    def __init__(self, hook: KubernetesHook, *, log: Any) -> None:
        self.hook = hook
        self.log = log

    def __getattr__(self, name: str) -> Any:
        why = PodManager._NOT_PROVIDED.get(name)
        if why is not None:
            raise AttributeError(f"pod_manager.{name} is not provided by airflow-provider-k8spod: {why}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def create_pod(self, pod: Any) -> Any:
        """Create ``pod``; returns it as the API stored it."""
        return to_model(self.hook.create_pod(pod_as_dict(pod)), "V1Pod")

    def read_pod(self, pod: Any) -> Any:
        name, namespace = _name(pod)
        return to_model(self.hook.get_pod(name, namespace), "V1Pod")

    def delete_pod(self, pod: Any) -> None:
        """Delete ``pod`` (already gone is fine)."""
        name, namespace = _name(pod)
        self.hook.delete_pod(name, namespace)

    def read_pod_events(self, pod: Any) -> Any:
        """The pod's Events, as a ``CoreV1EventList``."""
        name, namespace = _name(pod)
        events = self.hook.list_pod_events(name, namespace)
        return to_model(
            {"items": list(events), "metadata": {"resourceVersion": events.resource_version}},
            "CoreV1EventList",
        )

    def read_pod_logs(
        self,
        pod: Any,
        container_name: str,
        tail_lines: int | None = None,
        timestamps: bool = False,
        since_seconds: int | None = None,
        follow: bool = True,
    ) -> Iterator[bytes]:
        """The container's log, line by line (bytes, each with its newline)."""
        name, namespace = _name(pod)
        options: dict[str, Any] = {"container": container_name, "follow": follow, "timestamps": timestamps}
        if tail_lines:
            options["tail_lines"] = tail_lines
        if since_seconds:
            options["since_seconds"] = since_seconds
        pending = b""
        for chunk in self.hook.read_pod_logs(name, namespace, **options):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending

    def container_is_running(self, pod: Any, container_name: str) -> bool:
        return st.container_state(pod_as_dict(self.read_pod(pod)), container_name)[0] == "running"

    def container_is_terminated(self, pod: Any, container_name: str) -> bool:
        return st.container_state(pod_as_dict(self.read_pod(pod)), container_name)[0] == "terminated"

    def await_container_completion(self, pod: Any, container_name: str, polling_time: float = 1) -> None:
        """Wait until the container has terminated (``polling_time`` is unused: a watch tells)."""
        self._wait(pod, lambda p: st.container_state(p, container_name)[0] == "terminated")

    def await_pod_completion(
        self,
        pod: Any,
        istio_enabled: bool = False,
        container_name: str = "base",
        do_xcom_push: bool = False,
    ) -> Any:
        """Wait until the pod has finished (or, with ``istio_enabled`` or ``do_xcom_push``, until
        ``container_name`` has: a sidecar keeps the pod running); returns its last state."""

        def done(p: Mapping[str, Any]) -> bool:
            if st.is_finished(p):
                return True
            return (istio_enabled or do_xcom_push) and st.main_container_done(p, container_name)

        return to_model(self._wait(pod, done), "V1Pod")

    def await_xcom_sidecar_container_start(
        self, pod: Any, timeout: int = 900, log_interval: int = 30
    ) -> None:
        """Wait until the XCom sidecar runs; raises :class:`XComResultError` if it ended or ``timeout``
        seconds passed (``log_interval`` is unused: a watch tells when it starts)."""

        def settled(p: Mapping[str, Any]) -> bool:
            return st.container_state(p, XCOM_SIDECAR_NAME)[0] in ("running", "terminated")

        try:
            current = self._wait(pod, settled, timeout=timeout)
        except TimeoutError:
            raise XComResultError(
                f"the {XCOM_SIDECAR_NAME} container did not start within {timeout}s"
            ) from None
        if st.container_state(current, XCOM_SIDECAR_NAME)[0] != "running":
            raise XComResultError(f"the {XCOM_SIDECAR_NAME} container has already terminated")

    def extract_xcom(self, pod: Any, *, ignore_kill_failure: bool = True) -> str:
        """The text of the XCom result file (``EMPTY_XCOM_RESULT`` when there is none); then stops the
        sidecar."""
        name, namespace = _name(pod)
        try:
            result = self.hook.exec_in_pod(name, namespace, XCOM_READ_COMMAND, container=XCOM_SIDECAR_NAME)
            if result.exit_code == NO_FILE_EXIT_CODE:
                return EMPTY_XCOM_RESULT
            if result.exit_code != 0:
                raise XComResultError(
                    f"reading the XCom result in pod {namespace}/{name} failed with exit code "
                    f"{result.exit_code}: {result.stderr.decode(errors='replace').strip()}"
                )
            return result.stdout.decode()
        finally:
            try:
                self.hook.exec_in_pod(
                    name, namespace, XCOM_SIDECAR_STOP_COMMAND, container=XCOM_SIDECAR_NAME, timeout=30
                )
            except Exception as exc:
                if not ignore_kill_failure:
                    raise
                self.log.warning(
                    "Could not stop the %s container of pod %s: %s", XCOM_SIDECAR_NAME, name, exc
                )

    def _wait(
        self, pod: Any, predicate: Callable[[Mapping[str, Any]], bool], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The pod once ``predicate`` holds (list, then watch from there; relist after a 410)."""
        name, namespace = _name(pod)
        selector = f"metadata.name={name}"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            listed = self.hook.list_pods(namespace, field_selector=selector)
            if not listed:
                self.hook.get_pod(name, namespace)  # raises the API's 404 (or the pod has just appeared)
                continue
            current = listed[0]
            if predicate(current):
                return current
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"pod {namespace}/{name}")
            try:
                for event in self.hook.watch_pods(
                    namespace,
                    resource_version=str(listed.resource_version or "0"),
                    field_selector=selector,
                    timeout_seconds=int(min(left or 300, 300)) or 1,
                ):
                    if event.type in ("ADDED", "MODIFIED") and predicate(event.object):
                        return dict(event.object)
                    if event.type == "DELETED":
                        return dict(event.object)
            except ExpiredError:
                continue
