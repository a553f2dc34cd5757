"""Running the operator's pod, in both modes, through the one lifecycle (:mod:`..pod.lifecycle`).

- Synchronous: ``execute`` starts, follows and cleans up the pod on a loop thread of the worker.
- Deferrable: ``execute`` starts (creates or adopts) the pod on the worker and defers at once to
  :class:`~airflow_provider_k8spod.triggers.pod.KubernetesPodTrigger`, which follows it on the triggerer;
  :meth:`PodRunning.trigger_reentry` receives the outcome, cleans up as ``on_finish_action`` says, and
  decides the task exactly as the synchronous path does (:meth:`PodRunning._finish`, the one place that
  raises).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_k8spod.callbacks import ExecutionMode
from airflow_provider_k8spod.exceptions import (
    K8sPodError,
    PodCleanupError,
    PodFailedError,
    PodStartupError,
    PodStartupTimeoutError,
)
from airflow_provider_k8spod.hooks.access import ClusterAccess, resolve_cluster_access
from airflow_provider_k8spod.hooks.connection import load_connection_settings
from airflow_provider_k8spod.operators._airflow import redact
from airflow_provider_k8spod.operators._arguments import names_or_all
from airflow_provider_k8spod.operators._building import PodBuilding
from airflow_provider_k8spod.operators._driver import (
    CallbackObserver,
    LifecycleThread,
    call_callbacks,
    run_on_loop_thread,
)
from airflow_provider_k8spod.operators._upstream import (
    _CLEANUP_METHODS,
    _CREATE_METHODS,
    Later,
    ObservedPod,
    pod_as_dict,
)
from airflow_provider_k8spod.pod import status as pod_status
from airflow_provider_k8spod.pod import xcom as pod_xcom
from airflow_provider_k8spod.pod.identity import TaskIdentity
from airflow_provider_k8spod.pod.lifecycle import LifecycleResult, LifecycleSettings, PodHandle, PodLifecycle
from airflow_provider_k8spod.pod.report import PodReport, pod_report
from airflow_provider_k8spod.pod.spec import pod_to_yaml
from airflow_provider_k8spod.pod.validation import validate_pod
from airflow_provider_k8spod.pod.xcom import NO_RESULT

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["PodRunning", "import_path"]


def import_path(obj: Any) -> str | None:
    """``module.qualname`` of a class or function, if importing that path gives ``obj`` back; else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    return f"{module}.{qualname}"


# Orders on_kill (the main thread, in a signal handler) against the pod being created (the lifecycle's
# thread): whichever comes second deletes the pod. Module level: an operator is deep-copied, a lock cannot be.
_KILL_LOCK = threading.Lock()


class PodRunning:
    """The operator's ``execute``, ``trigger_reentry``, ``on_kill`` and callbacks (a mixin of the operator;
    the attributes it reads are the operator's arguments)."""

    # Set by the operator's constructor.
    _access: ClusterAccess | None
    _pod_ref: tuple[str, str] | None
    _lifecycle: PodLifecycle | None
    _killed: bool
    callbacks: list[Any]
    log: Any

    # --- settings -----------------------------------------------------------------------------------------

    def cluster_access(self) -> ClusterAccess:
        """The connection and this operator's overrides, resolved once (see docs/connection.md)."""
        op: Any = self
        if self._access is None:
            settings = load_connection_settings(op.kubernetes_conn_id)
            self._access = resolve_cluster_access(
                settings,
                in_cluster=op.in_cluster,
                config_file=op.config_file,
                cluster_context=op.cluster_context,
            )
        return self._access

    def lifecycle_settings(self) -> LifecycleSettings:
        """This operator's arguments as the lifecycle's settings (the same for every execution mode)."""
        op: Any = self
        return LifecycleSettings(
            schedule_timeout=float(op.schedule_timeout_seconds),
            startup_timeout=float(op.startup_timeout_seconds),
            config_error_grace=float(op.CONFIG_ERROR_GRACE_SECONDS),
            get_logs=op.get_logs,
            container_logs=names_or_all(op._container_logs),
            init_container_logs=names_or_all(op.init_container_logs),
            log_prefix=op.container_name_log_prefix_enabled,
            log_events=op.log_events_on_startup,
            do_xcom_push=op.do_xcom_push,
            max_xcom_size=int(op.max_xcom_size),
            xcom_transport=op.effective_xcom_transport() if op.do_xcom_push else "sidecar",
            skip_on_exit_code=tuple(op.skip_on_exit_code),
            on_finish_action=op.on_finish_action,
            termination_grace_period=op.termination_grace_period,
            durable=bool(op.durable),
            drain_timeout=float(op.POST_TERMINATION_TIMEOUT),
            poll_interval=float(op.poll_interval),
            startup_check_interval=float(op.startup_check_interval_seconds),
            pod_report=bool(op.pod_report),
            pod_recreate_attempts=int(op.pod_recreate_attempts),
        )

    def _new_lifecycle(
        self, access: ClusterAccess, context: Context, runner: LifecycleThread
    ) -> PodLifecycle:
        from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook

        op: Any = self

        def created(name: str, namespace: str) -> None:
            with _KILL_LOCK:
                self._pod_ref = (name, namespace)
                killed = self._killed
            if killed:  # killed while the pod was being created: on_kill had no pod to delete
                self._kill_pod()
                return

            def push() -> None:
                ti = context["ti"]
                ti.xcom_push(key="pod_name", value=name)
                ti.xcom_push(key="pod_namespace", value=namespace)

            runner.post(push)

        def dispatch(method: str, kwargs: dict[str, Any]) -> None:
            runner.post(lambda: self._callback(method, context, **kwargs))

        def seen(pod: Mapping[str, Any], created: bool) -> None:
            # Upstream's attributes: the pod as created or adopted, and the last state read.
            if created:
                op.pod = ObservedPod(pod)
            op.remote_pod = ObservedPod(pod)

        lifecycle = self._lifecycle = PodLifecycle(
            AsyncKubernetesHook(op.kubernetes_conn_id, cluster_access=access),
            self.lifecycle_settings(),
            log=self.log,
            observer=CallbackObserver(self.callbacks, dispatch, created, seen),
            log_formatter=op.log_formatter,
        )
        lifecycle.sidecar_stopped_by_deletion = not self._reads_final_pod(op._overrides(*_CLEANUP_METHODS))
        return lifecycle

    # --- execute ------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        op: Any = self
        access = self.cluster_access()
        request = self._pod_request(context, access)
        if self.callbacks:
            self._callback("on_pod_manifest_created", context, pod_request=op.pod_request_obj)
        identity = TaskIdentity.from_context(context)
        runner = LifecycleThread()
        lifecycle = self._new_lifecycle(access, context, runner)
        # A subclass overriding upstream's get_or_create_pod/find_pod, or its cleanup methods, is called
        # where upstream calls them; the lifecycle follows the pod it returns.
        own_cleanup = op._overrides(*_CLEANUP_METHODS)
        existing = None
        try:
            if op._overrides(*_CREATE_METHODS):
                op._adopted = False
                op.pod = op.get_or_create_pod(op.pod_request_obj, context)
                existing = (pod_as_dict(op.pod, "get_or_create_pod result"), op._adopted)
            if op.deferrable:
                handle, _ = run_on_loop_thread(lifecycle.start(request, identity, existing=existing), runner)
                lifecycle.cleaned_up = True  # from here on, the trigger and trigger_reentry own the pod
                self._defer(handle, access, context)
            result = run_on_loop_thread(
                lifecycle.run(request, identity, existing=existing, clean_up=not own_cleanup), runner
            )
        except TaskDeferred:
            raise
        except BaseException:
            # Interrupted (execution_timeout, kill, crash of the loop): the lifecycle's own cleanup may not
            # have run; make sure the pod does not outlive the task. Never replaces the original error.
            self._report_interrupted(lifecycle)
            self._delete_if_left(lifecycle)
            raise
        if result.pod:
            op.remote_pod = ObservedPod(result.pod)
        if own_cleanup:
            self._subclass_cleanup(lifecycle, result, context)
        return self._finish(result, context, cleanup_problem=lifecycle.cleanup_problem)

    def _reads_final_pod(self, own_cleanup: bool) -> bool:
        """Whether anything reads the pod as it ends (its final phase, once the XCom sidecar is stopped): a
        subclass's cleanup, callbacks, or an ``on_finish_action`` that may keep the pod. Otherwise the pod
        is deleted as soon as the verdict is in, and the deletion stops the sidecar."""
        op: Any = self
        return own_cleanup or bool(self.callbacks) or op.on_finish_action != "delete_pod"

    def _pod_request(self, context: Context, access: ClusterAccess) -> dict[str, Any]:
        """Set upstream's ``pod_request_obj`` (unless already set) and return it as the manifest to create.

        ``build_pod_request_obj`` is called when a subclass overrides it; otherwise the pod is built
        directly (the same pod, without a round trip through the model)."""
        op: Any = self
        if op.pod_request_obj is None:
            if type(op).build_pod_request_obj is PodBuilding.build_pod_request_obj:
                request: dict[str, Any] = op.build_pod_manifest(context, default_namespace=access.namespace)
                op.pod_request_obj = ObservedPod(request)  # a V1Pod when read
                return request
            op.pod_request_obj = op.build_pod_request_obj(context)
        request = pod_as_dict(op.pod_request_obj, "pod_request_obj")
        validate_pod(request)
        return request

    def _subclass_cleanup(self, lifecycle: PodLifecycle, result: LifecycleResult, context: Context) -> None:
        """Clean up through a subclass's ``cleanup`` (upstream's hook for it); what it raises fails the task
        as upstream's would. ``on_pod_cleanup`` callbacks run after it."""
        op: Any = self
        lifecycle.cleaned_up = True
        try:
            op._call_cleanup(None if result.xcom is NO_RESULT else result.xcom, context)
        finally:
            if self.callbacks:
                self._callback("on_pod_cleanup", context, pod=op.remote_pod)

    def _defer(self, handle: PodHandle, access: ClusterAccess, context: Context) -> NoReturn:
        from airflow_provider_k8spod.triggers.pod import KubernetesPodTrigger

        op: Any = self
        callbacks = []
        for callback in self.callbacks:
            path = import_path(callback)
            if path is None:
                self.log.warning(
                    "Callback %r cannot be imported by the triggerer (define it in a module); it runs only on "
                    "the worker (on_pod_creation, on_operator_resuming, on_pod_cleanup)",
                    callback,
                )
            else:
                callbacks.append(path)
        formatter = None
        if op.log_formatter is not None:
            formatter = import_path(op.log_formatter)
            if formatter is None:
                self.log.warning(
                    "log_formatter %r cannot be imported by the triggerer (define it at module level in a "
                    "module); the triggerer formats log lines with the default format",
                    op.log_formatter,
                )
        trigger = KubernetesPodTrigger(
            handle=handle.to_dict(),
            access=access.serialize(),
            settings=self.lifecycle_settings().to_dict(),
            conn_id=op.kubernetes_conn_id,
            deadline=self._deadline(context),
            callbacks=callbacks,
            log_formatter=formatter,
            on_kill_action=op.on_kill_action,
            deferred_at=time.time(),
        )
        self.log.info("Deferring: the triggerer follows pod %s/%s from here", handle.namespace, handle.name)
        op.defer(trigger=trigger, method_name="trigger_reentry")
        raise AssertionError("defer() returned")  # pragma: no cover

    def _rebuild_request(self, context: Context) -> None:
        """On re-entry, ``pod_request_obj`` is the request of this try as execute built it (names are
        deterministic per try), built again when first read (a failure then leaves it None)."""
        op: Any = self
        if "_k8spod_pod_request_obj" not in vars(self) or vars(self)["_k8spod_pod_request_obj"] is None:
            op.pod_request_obj = Later(lambda: self._pod_request(context, self.cluster_access()))

    def _deadline(self, context: Context) -> float | None:
        """When ``execution_timeout`` ends, as ``time.time()`` seconds (the trigger enforces it)."""
        op: Any = self
        timeout = op.execution_timeout
        if not timeout:
            return None
        ti = context.get("ti")
        started = getattr(ti, "start_date", None)
        if isinstance(started, datetime.datetime):
            return float(started.timestamp() + timeout.total_seconds())
        return time.time() + float(timeout.total_seconds())

    def trigger_reentry(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger's event: clean up as ``on_finish_action`` says, then decide the task as
        the synchronous path does. Upstream's name, so subclasses that override it keep working."""
        op: Any = self
        handle = PodHandle.from_dict(event["handle"])
        self._pod_ref = (handle.name, handle.namespace)
        result = LifecycleResult.from_dict(event["result"]) if event.get("result") else None
        # Upstream's attributes, as execute set them: the pod's last state is the trigger's (no extra read).
        last = ObservedPod(result.pod) if result is not None and result.pod else None
        op.pod = op.remote_pod = last
        self._rebuild_request(context)
        if self.callbacks:
            self._callback("on_operator_resuming", context, pod=op.pod, event=dict(event))
        access = self.cluster_access()
        runner = LifecycleThread()
        lifecycle = self._new_lifecycle(access, context, runner)
        lifecycle.attach(handle)
        lifecycle.sidecar_left = bool(event.get("sidecar_running"))  # the trigger read the result, left it
        own_cleanup = result is not None and op._overrides(*_CLEANUP_METHODS)
        loss = (
            lifecycle.loss_to_recreate(result)
            if result is not None and event.get("status") == "done"
            else None
        )
        if result is not None and loss is not None:
            # The pod was lost to the infrastructure: create the next one here (pods are created on the
            # worker) and follow it on the triggerer again.
            request = self._pod_request(context, access)
            identity = TaskIdentity.from_context(context)
            new_handle, _ = run_on_loop_thread(lifecycle.recreate(request, identity, result, loss), runner)
            lifecycle.cleaned_up = True  # the trigger and trigger_reentry own the new pod
            self._defer(new_handle, access, context)

        async def finish() -> LifecycleResult | None:
            if result is not None and event.get("xcom_pending"):
                # The result was too large for the event: read it here, from the sidecar still waiting.
                try:
                    result.xcom = await lifecycle.read_xcom()
                except K8sPodError as exc:
                    result.xcom_error = exc
            elif result is not None and lifecycle.sidecar_left and not lifecycle.sidecar_stopped_by_deletion:
                # The trigger read the result and left the sidecar running: stop it, and take the pod as
                # it ends (its final phase) for cleanup and remote_pod.
                final = await lifecycle.stop_sidecar()
                if final is not None:
                    result.pod = final
            # Otherwise deleting the pod stops the sidecar too, and nothing reads the pod's final phase:
            # two requests fewer (an exec and a read) for every deferred task with an XCom.
            if not own_cleanup:
                await lifecycle.cleanup(result.pod if result else None, result.verdict if result else None)
            return result

        run_on_loop_thread(finish(), runner)
        if result is not None and result.pod and event.get("sidecar_running"):
            op.pod = op.remote_pod = ObservedPod(result.pod)
        if own_cleanup and result is not None:
            self._subclass_cleanup(lifecycle, result, context)
        problem = lifecycle.cleanup_problem
        also = f"\nAlso, {problem}" if problem else ""
        if event.get("status") == "error" or result is None:
            raise K8sPodError(
                f"Following pod {handle.namespace}/{handle.name} on the triggerer failed: "
                f"{event.get('message') or 'no result'}{also}"
            )
        if result.timed_out:
            from airflow.sdk.exceptions import AirflowTaskTimeout

            self._log_report(result.report)
            raise AirflowTaskTimeout(
                f"Pod {handle.namespace}/{handle.name}: {result.verdict.summary}"
                + (also if problem else " (deleted)")
            )
        return self._finish(result, context, cleanup_problem=problem)

    # --- the verdict --------------------------------------------------------------------------------------

    def _finish(
        self, result: LifecycleResult, context: Context, *, cleanup_problem: str | None = None
    ) -> Any:
        """Turn the result into the task's outcome: the one place that returns, skips or raises.

        A pod that cleanup had to delete and could not (``cleanup_problem``) fails a task that would have
        succeeded or been skipped (a pod left running against ``on_finish_action`` must not go unnoticed);
        a failed task keeps its own error, with the cleanup problem appended."""
        op: Any = self
        verdict = result.verdict
        name = f"{self._pod_ref[1]}/{self._pod_ref[0]}" if self._pod_ref else "the pod"
        self._log_report(result.report)
        value = None if result.xcom is NO_RESULT else result.xcom
        also = f"\nAlso, {cleanup_problem}" if cleanup_problem else ""
        if verdict.outcome is pod_status.Outcome.SUCCESS:
            self.log.info("Pod %s succeeded: %s", name, verdict.summary)
            if result.xcom_error is not None:
                if cleanup_problem:
                    raise PodCleanupError(f"{result.xcom_error}{also}") from result.xcom_error
                raise result.xcom_error
            if cleanup_problem:
                raise PodCleanupError(f"Pod {name} succeeded, but {cleanup_problem}")
            pod_xcom.check_multiple_outputs(value, multiple_outputs=op.multiple_outputs)
            return value if op.do_xcom_push else None
        if op.do_xcom_push and result.xcom is not NO_RESULT:
            # As upstream: a failed or skipped task still publishes what its pod returned.
            self._push_result(context, value)
        if verdict.outcome is pod_status.Outcome.SKIP:
            from airflow.sdk.exceptions import AirflowSkipException

            if cleanup_problem:
                raise PodCleanupError(
                    f"Pod {name}: {verdict.summary} (the task would be skipped), but {cleanup_problem}"
                )
            raise AirflowSkipException(f"Pod {name}: {verdict.summary}")
        record = verdict.record
        details = record.render() if record is not None else ""
        exhausted = self._lifecycle.recreate_exhausted(result) if self._lifecycle is not None else None
        if exhausted:
            details += f"\n{exhausted}"
        self.log.error("Pod %s failed: %s\n%s", name, verdict.summary, details)
        if (op.log_events_on_failure or op.log_pod_spec_on_failure) and result.pod:
            self.log.info("Pod %s's final state:\n%s", name, pod_to_yaml(redact(dict(result.pod))))
        if not result.started:
            timed_out = verdict.startup_reason in ("ScheduleTimeout", "StartupTimeout")
            raise (PodStartupTimeoutError if timed_out else PodStartupError)(
                f"Pod {name} did not start: {verdict.startup_reason}: "
                f"{_startup_summary(verdict)}\n{details}{also}",
                reason=verdict.startup_reason,
                record=record,
            )
        raise PodFailedError(f"Pod {name} failed: {verdict.summary}\n{details}{also}", record=record)

    def _log_report(self, report: PodReport | None) -> None:
        """Log the pod report, made where the pod was followed (the trigger's event carries it): the worker
        logs it, once, in both modes."""
        op: Any = self
        if report is not None and op.pod_report:
            self.log.info("%s", report.render())

    def _report_interrupted(self, lifecycle: PodLifecycle) -> None:
        """The task was interrupted (``execution_timeout``, a kill): report the pod as last seen."""
        op: Any = self
        pod = lifecycle.watcher.pod if lifecycle.watcher is not None else None
        if pod and op.pod_report:
            with contextlib.suppress(Exception):  # never in the way of the interruption
                self._log_report(pod_report(pod, now=time.time()))

    def _push_result(self, context: Context, value: Any) -> None:
        op: Any = self
        ti = context["ti"]
        if op.multiple_outputs and isinstance(value, Mapping):
            for key, item in value.items():
                ti.xcom_push(key=str(key), value=item)
        ti.xcom_push(key="return_value", value=value)

    # --- kill ---------------------------------------------------------------------------------------------

    def _delete_if_left(self, lifecycle: PodLifecycle) -> None:
        if lifecycle.cleaned_up or self._pod_ref is None or self._access is None:
            return
        if self._delete_pod("Deleted pod {}: the task ended before the pod did", "the task ended early"):
            lifecycle.cleaned_up = True

    def _delete_pod(self, done: str, why: str) -> bool:
        """Delete the task's pod; ``done`` is the line logged (``{}``: namespace/name)."""
        op: Any = self
        if self._pod_ref is None:
            return False
        name, namespace = self._pod_ref
        try:
            deleted = op.hook.delete_pod(name, namespace, grace_period_seconds=op.termination_grace_period)
            if deleted is not None:
                self.log.info("%s", done.format(f"{namespace}/{name}"))
            return True
        except Exception as exc:
            self.log.error("%s, but deleting pod %s/%s failed: %s", why.capitalize(), namespace, name, exc)
            return False

    def on_kill(self) -> None:
        """The task is being killed (marked failed/success by a user, or its worker is stopping).

        Deletes the pod with ``termination_grace_period``, unless ``on_kill_action="keep_pod"``; a pod still
        being created is deleted as soon as it exists. (A deferred task's pod is deleted by the trigger's
        ``on_kill``.)
        """
        if self._lifecycle is not None:
            self._lifecycle.stopping = True  # a pod deleted from now on is not lost to the infrastructure
        with _KILL_LOCK:
            self._killed = True
            known = self._pod_ref is not None
        if known:
            self._kill_pod()

    def _kill_pod(self) -> None:
        op: Any = self
        assert self._pod_ref is not None
        name, namespace = self._pod_ref
        if op.on_kill_action == "keep_pod":
            self.log.info("Task killed; keeping pod %s/%s (on_kill_action=keep_pod)", namespace, name)
            return
        if (
            self._delete_pod("Task killed; deleted pod {}", "the task was killed")
            and self._lifecycle is not None
        ):
            self._lifecycle.cleaned_up = True

    # --- callbacks ----------------------------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> Any:
        """A ``kubernetes.client.CoreV1Api`` for this task's cluster (what callbacks receive)."""
        op: Any = self
        api = op.hook.core_v1_client
        for callback in self.callbacks:
            callback.on_sync_client_creation(client=api, operator=self)
        return api

    def _callback(self, method: str, context: Any, **kwargs: Any) -> None:
        call_callbacks(
            self.callbacks,
            method,
            log=self.log,
            client=self.client,
            mode=ExecutionMode.SYNC,
            operator=self,
            context=context,
            **kwargs,
        )


def _startup_summary(verdict: pod_status.Verdict) -> str:
    """A failed start's summary without what the error's own prefix says already (the reason, once)."""
    return verdict.summary.removeprefix("the pod did not start: ").removeprefix(f"{verdict.startup_reason}: ")
