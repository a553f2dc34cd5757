"""``KubernetesPodOperator``: run one Airflow task as one Kubernetes pod.

This module holds the constructor (every argument of upstream ``cncf-kubernetes``' operator, with the same
names and defaults), templating (upstream's 22 template fields plus rendering inside Kubernetes models),
building the pod (:meth:`KubernetesPodOperator.build_pod_request_obj`,
:meth:`KubernetesPodOperator.build_pod_manifest`) and :meth:`KubernetesPodOperator.dry_run`. The pod
itself is built by the pure :func:`airflow_provider_k8spod.pod.spec.build_pod`; see docs/pod-spec.md.

Which arguments the user passed is recorded when the operator is created (explicit keyword arguments,
``default_args``, ``partial`` and ``expand`` values alike): only those change the pod built from a manifest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import queue
import threading
import warnings
from collections.abc import Callable, Container, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator

from airflow_provider_k8spod.callbacks import ExecutionMode
from airflow_provider_k8spod.exceptions import (
    ConnectionConfigError,
    PodFailedError,
    PodSpecError,
)
from airflow_provider_k8spod.hooks.access import ClusterAccess, close_async_clients, resolve_cluster_access
from airflow_provider_k8spod.hooks.connection import ConnectionSettings, load_connection_settings
from airflow_provider_k8spod.pod import status as pod_status
from airflow_provider_k8spod.pod import xcom as pod_xcom
from airflow_provider_k8spod.pod.arguments import check_startup_timeouts, skip_exit_codes
from airflow_provider_k8spod.pod.identity import TaskIdentity, safe_label_value
from airflow_provider_k8spod.pod.lifecycle import LifecycleResult, LifecycleSettings, PodLifecycle
from airflow_provider_k8spod.pod.logs import LogLine
from airflow_provider_k8spod.pod.normalize import is_model, to_api, to_model
from airflow_provider_k8spod.pod.spec import (
    DEFAULT_BASE_CONTAINER_NAME,
    POD_ARGUMENTS,
    build_pod,
    pod_to_yaml,
)
from airflow_provider_k8spod.pod.validation import validate_pod
from airflow_provider_k8spod.pod.xcom import DEFAULT_MAX_XCOM_SIZE, NO_RESULT, sidecar_settings

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

__all__ = ["KubernetesPodOperator"]

#: Where a pod's service account namespace is mounted when Airflow itself runs in a pod.
IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

_ON_FINISH_ACTIONS = ("delete_pod", "delete_succeeded_pod", "delete_active_pod", "keep_pod")
_ON_KILL_ACTIONS = ("delete_pod", "keep_pod")

#: Arguments that shape the pod but are not :data:`POD_ARGUMENTS` of the pure builder.
_SIDECAR_ARGUMENTS = (
    "xcom_sidecar_container_image",
    "xcom_sidecar_container_resources",
    "xcom_sidecar_container_security_context",
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _record_passed_arguments(init: _F) -> _F:
    """Remember which keyword arguments reached ``__init__`` with a value other than None.

    ``BaseOperator``'s metaclass hands ``__init__`` the explicit keyword arguments plus the applicable
    ``default_args``; a mapped task is created with its ``partial`` and ``expand`` values. Those are the
    arguments "the user passed". A subclass calling ``super().__init__(...)`` adds to the same set.
    """

    @functools.wraps(init)
    def wrapper(self: KubernetesPodOperator, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        passed = set(getattr(self, "_k8spod_passed", ()))
        passed |= {k for k, v in kwargs.items() if v is not None}
        object.__setattr__(self, "_k8spod_passed", frozenset(passed))
        # Values of the arguments that were not passed, to notice a subclass that sets them afterwards.
        tracked = (POD_ARGUMENTS | set(_SIDECAR_ARGUMENTS)) - passed
        defaults = {name: _snapshot(getattr(self, name, None)) for name in tracked}
        object.__setattr__(self, "_k8spod_unpassed_values", defaults)

    return wrapper  # type: ignore[return-value]


def _snapshot(value: Any) -> Any:
    try:
        import copy

        return copy.deepcopy(value)
    except Exception:  # pragma: no cover - values that cannot be copied are compared by identity
        return value


def _default_deferrable() -> bool:
    try:
        from airflow.sdk.configuration import conf

        return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
    except Exception:  # pragma: no cover - configuration unavailable
        return False


class KubernetesPodOperator(BaseOperator):
    """Run a task in a Kubernetes pod; a drop-in for upstream ``cncf-kubernetes``' operator.

    Every argument of upstream's operator is accepted with the same name and default. The pod is built
    from a manifest (``pod_template_file``, ``pod_template_dict``, ``full_pod_spec``) and/or the arguments,
    following one rule: the manifest first, then each argument you passed overrides (see
    docs/pod-spec.md). Kubernetes objects may be ``kubernetes.client`` models or dicts (camelCase or
    snake_case).

    Beyond upstream: ``xcom_sidecar_container_image`` and ``xcom_sidecar_container_resources`` (operator
    level overrides of the connection extras of the same name).
    """

    BASE_CONTAINER_NAME = DEFAULT_BASE_CONTAINER_NAME
    ISTIO_CONTAINER_NAME = "istio-proxy"
    POD_CHECKED_KEY = "already_checked"
    #: Seconds a container's log stream may take to end after the container terminated.
    POST_TERMINATION_TIMEOUT = 30
    #: Seconds a CreateContainerConfigError (a missing ConfigMap or Secret) may last before the start fails.
    CONFIG_ERROR_GRACE_SECONDS = 30

    template_fields: Sequence[str] = (
        "image",
        "name",
        "hostname",
        "cmds",
        "annotations",
        "arguments",
        "env_vars",
        "labels",
        "config_file",
        "pod_template_file",
        "pod_template_dict",
        "namespace",
        "container_resources",
        "volumes",
        "volume_mounts",
        "cluster_context",
        "env_from",
        "configmaps",
        "node_selector",
        "kubernetes_conn_id",
        "base_container_name",
        "trigger_kwargs",
    )
    template_fields_renderers = {"env_vars": "py"}

    @_record_passed_arguments
    def __init__(
        self,
        *,
        kubernetes_conn_id: str | None = "kubernetes_default",
        namespace: str | None = None,
        image: str | None = None,
        name: str | None = None,
        random_name_suffix: bool = True,
        cmds: list[str] | None = None,
        arguments: list[str] | None = None,
        ports: list[Any] | None = None,
        volume_mounts: list[Any] | None = None,
        volumes: list[Any] | None = None,
        env_vars: list[Any] | dict[str, str] | None = None,
        env_from: list[Any] | None = None,
        secrets: list[Any] | None = None,
        in_cluster: bool | None = None,
        cluster_context: str | None = None,
        labels: dict[str, str] | None = None,
        reattach_on_restart: bool | None = None,
        durable: bool | None = None,
        startup_timeout_seconds: int = 120,
        startup_check_interval_seconds: int = 5,
        schedule_timeout_seconds: int | None = None,
        get_logs: bool = True,
        base_container_name: str | None = None,
        base_container_status_polling_interval: float = 1,
        init_container_logs: Iterable[str] | str | bool | None = None,
        container_logs: Iterable[str] | str | bool | None = None,
        image_pull_policy: str | None = None,
        annotations: dict[str, str] | None = None,
        container_resources: Any = None,
        affinity: Any = None,
        config_file: str | None = None,
        node_selector: dict[str, str] | None = None,
        image_pull_secrets: list[Any] | str | None = None,
        service_account_name: str | None = None,
        automount_service_account_token: bool | None = None,
        hostnetwork: bool = False,
        host_aliases: list[Any] | None = None,
        tolerations: list[Any] | None = None,
        security_context: Any = None,
        container_security_context: Any = None,
        dnspolicy: str | None = None,
        dns_config: Any = None,
        hostname: str | None = None,
        subdomain: str | None = None,
        schedulername: str | None = None,
        full_pod_spec: Any = None,
        init_containers: list[Any] | None = None,
        log_events_on_failure: bool = False,
        do_xcom_push: bool = False,
        pod_template_file: str | None = None,
        pod_template_dict: Any = None,
        priority_class_name: str | None = None,
        pod_runtime_info_envs: list[Any] | None = None,
        termination_grace_period: int | None = None,
        configmaps: list[str] | None = None,
        skip_on_exit_code: int | Container[int] | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 2,
        log_pod_spec_on_failure: bool = True,
        on_finish_action: str = "delete_pod",
        on_kill_action: str = "delete_pod",
        termination_message_policy: str = "File",
        active_deadline_seconds: int | None = None,
        callbacks: Any = None,
        progress_callback: Callable[..., Any] | None = None,
        logging_interval: int | None = None,
        trigger_kwargs: dict[str, Any] | None = None,
        container_name_log_prefix_enabled: bool = True,
        log_formatter: Callable[[str, str], str] | None = None,
        runtime_class_name: str | None = None,
        log_events_on_startup: bool = True,
        is_delete_operator_pod: bool | None = None,
        xcom_sidecar_container_security_context: Any = None,
        xcom_sidecar_container_image: str | None = None,
        xcom_sidecar_container_resources: Any = None,
        max_xcom_size: int = DEFAULT_MAX_XCOM_SIZE,
        **kwargs: Any,
    ) -> None:
        if deferrable is None:
            deferrable = _default_deferrable()
        super().__init__(do_xcom_push=do_xcom_push, **kwargs)
        # Connection and identity
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.name = name
        self.random_name_suffix = random_name_suffix
        self.in_cluster = in_cluster
        self.cluster_context = cluster_context
        self.config_file = config_file
        # Main container
        self.image = image
        self.cmds = cmds or []
        self.arguments = arguments or []
        self.ports = ports or []
        self.volume_mounts = volume_mounts or []
        self.env_vars = env_vars if env_vars is not None else []
        self.env_from = env_from or []
        self.configmaps = configmaps or []
        self.secrets = secrets or []
        self.pod_runtime_info_envs = pod_runtime_info_envs or []
        self.image_pull_policy = image_pull_policy
        self.container_resources = container_resources
        self.container_security_context = container_security_context
        self.termination_message_policy = termination_message_policy
        self.base_container_name = base_container_name or self.BASE_CONTAINER_NAME
        # Pod spec and templates
        self.labels = labels or {}
        self.annotations = annotations or {}
        self.volumes = volumes or []
        self.init_containers = init_containers or []
        self.image_pull_secrets = image_pull_secrets or []
        self.service_account_name = service_account_name
        self.automount_service_account_token = automount_service_account_token
        self.hostnetwork = hostnetwork
        self.host_aliases = host_aliases
        self.dnspolicy = dnspolicy
        self.dns_config = dns_config
        self.hostname = hostname
        self.subdomain = subdomain
        self.priority_class_name = priority_class_name
        self.runtime_class_name = runtime_class_name
        self.active_deadline_seconds = active_deadline_seconds
        self.termination_grace_period = termination_grace_period
        self.full_pod_spec = full_pod_spec
        self.pod_template_file = pod_template_file
        self.pod_template_dict = pod_template_dict
        # Scheduling and startup
        self.node_selector = node_selector or {}
        self.affinity = affinity or {}
        self.tolerations = tolerations or []
        self.schedulername = schedulername
        check_startup_timeouts(startup_timeout_seconds, schedule_timeout_seconds)
        self.startup_timeout_seconds = startup_timeout_seconds
        self.schedule_timeout_seconds = (
            schedule_timeout_seconds if schedule_timeout_seconds is not None else startup_timeout_seconds
        )
        self.startup_check_interval_seconds = startup_check_interval_seconds
        # Security
        self.security_context = security_context or {}
        self.xcom_sidecar_container_security_context = xcom_sidecar_container_security_context
        self.xcom_sidecar_container_image = xcom_sidecar_container_image
        self.xcom_sidecar_container_resources = xcom_sidecar_container_resources
        # Lifecycle, reattach and cleanup
        if on_finish_action not in _ON_FINISH_ACTIONS:
            raise PodSpecError(
                f"on_finish_action: expected one of {', '.join(_ON_FINISH_ACTIONS)}, got {on_finish_action!r}"
            )
        if on_kill_action not in _ON_KILL_ACTIONS:
            raise PodSpecError(
                f"on_kill_action: expected one of {', '.join(_ON_KILL_ACTIONS)}, got {on_kill_action!r}"
            )
        self.on_finish_action = on_finish_action
        self.on_kill_action = on_kill_action
        self.is_delete_operator_pod = on_finish_action == "delete_pod"
        if is_delete_operator_pod is not None:
            warnings.warn(
                "is_delete_operator_pod is ignored, as in upstream; use on_finish_action",
                _deprecation_warning(),
                stacklevel=2,
            )
        if reattach_on_restart is not None:
            warnings.warn(
                "reattach_on_restart is deprecated; use durable",
                _deprecation_warning(),
                stacklevel=2,
            )
        if durable is None:
            durable = reattach_on_restart if reattach_on_restart is not None else True
        self.durable = durable
        self.reattach_on_restart = durable
        self.skip_on_exit_code: list[int] = skip_exit_codes(skip_on_exit_code)
        self.log_pod_spec_on_failure = log_pod_spec_on_failure
        # Logs and events
        self.get_logs = get_logs
        self._container_logs = container_logs
        self.init_container_logs = init_container_logs
        self.container_name_log_prefix_enabled = container_name_log_prefix_enabled
        self.log_formatter = log_formatter
        self.log_events_on_failure = log_events_on_failure
        self.log_events_on_startup = log_events_on_startup
        self.base_container_status_polling_interval = base_container_status_polling_interval
        # Deferrable
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.logging_interval = logging_interval
        self.trigger_kwargs = trigger_kwargs
        # Callbacks
        if callbacks is None:
            self.callbacks: list[Any] = []
        elif isinstance(callbacks, (list, tuple)):
            self.callbacks = list(callbacks)
        else:
            self.callbacks = [callbacks]
        self._progress_callback = progress_callback
        self.max_xcom_size = max_xcom_size
        # Set while the task runs: what on_kill needs (no connection lookups in a signal handler).
        self._access: ClusterAccess | None = None
        self._pod_ref: tuple[str, str] | None = None
        self._lifecycle: PodLifecycle | None = None
        self._killed = False

    # -----------------------------------------------------------------------------------------------------

    @property
    def container_logs(self) -> Iterable[str] | str | bool:
        """Containers whose logs are followed: the argument, else the (rendered) base container name."""
        return self._container_logs or self.base_container_name

    @container_logs.setter
    def container_logs(self, value: Iterable[str] | str | bool | None) -> None:
        self._container_logs = value

    @property
    def passed_arguments(self) -> frozenset[str]:
        """Names of the constructor arguments that were passed with a value (not None)."""
        return frozenset(getattr(self, "_k8spod_passed", frozenset()))

    # --- templating ---------------------------------------------------------------------------------------

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        # A dict of env vars becomes a list before rendering, so that names are rendered too.
        if parent is self and "env_vars" in template_fields and isinstance(self.env_vars, Mapping):
            self.env_vars = [
                {"name": key, "value": value} if value is not None else {"name": key}
                for key, value in self.env_vars.items()
            ]
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)

    def _render_nested_template_fields(
        self,
        value: Any,
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render every attribute of a ``kubernetes.client`` model (recursively), others as usual."""
        if not is_model(value):
            super()._render_nested_template_fields(value, context, jinja_env, seen_oids)
            return
        if id(value) in seen_oids:
            return
        seen_oids.add(id(value))
        for attr in type(value).openapi_types:
            current = getattr(value, attr, None)
            if current is None or isinstance(current, (bool, int, float)):
                continue
            rendered = self.render_template(current, context, jinja_env, seen_oids)
            if rendered is not current:
                setattr(value, attr, rendered)

    # --- building the pod ---------------------------------------------------------------------------------

    def _was_passed(self, name: str) -> bool:
        if name in self.passed_arguments:
            return True
        unpassed = getattr(self, "_k8spod_unpassed_values", {})
        return name in unpassed and getattr(self, name, None) != unpassed[name]

    def pod_arguments(self) -> dict[str, Any]:
        """The pod-shaping arguments that were passed, with their current (rendered) values."""
        return {name: getattr(self, name) for name in sorted(POD_ARGUMENTS) if self._was_passed(name)}

    def _default_namespace(self, connection_namespace: str | None) -> str:
        if connection_namespace:
            return connection_namespace
        try:
            with open(IN_CLUSTER_NAMESPACE_FILE, encoding="utf-8") as handle:
                found = handle.read().strip()
        except OSError:
            found = ""
        return found or "default"

    def build_pod_manifest(
        self, context: Context | Mapping[str, Any] | None = None, *, default_namespace: str | None = None
    ) -> dict[str, Any]:
        """The pod for ``context`` as a canonical camelCase dict (what ``kubectl get -o json`` shows).

        Never contacts a cluster. The connection is read for the namespace and the XCom sidecar settings;
        a missing ``kubernetes_default`` means defaults. Without a context (``dry_run``) the pod has no task
        instance labels, its name suffix derives from the dag and task ids, and values that are still
        Jinja templates are shown as they are (their names and quantities are checked once rendered).
        """
        identity = TaskIdentity.from_context(context) if context is not None else None
        settings = self._connection_settings(strict=context is not None)
        sidecar = None
        if self.do_xcom_push:
            sidecar = sidecar_settings(
                image=self._passed_or_none("xcom_sidecar_container_image"),
                resources=self._passed_or_none("xcom_sidecar_container_resources"),
                security_context=self._passed_or_none("xcom_sidecar_container_security_context"),
                connection_image=settings.xcom_sidecar_container_image,
                connection_resources=settings.xcom_sidecar_container_resources,
                connection_security_context=settings.xcom_sidecar_container_security_context,
            )
        pod = build_pod(
            self.pod_arguments(),
            task_id=self.task_id,
            dag_id=self.dag_id if self.has_dag() else None,
            identity=identity,
            default_namespace=self._default_namespace(default_namespace or settings.namespace),
            xcom_sidecar=sidecar,
            extra_labels={"airflow_version": _airflow_version_label()},
            default_base_container_name=self.BASE_CONTAINER_NAME,
            allow_templates=context is None,
        )
        return _apply_pod_mutation_hook(pod)

    def _connection_settings(self, *, strict: bool) -> ConnectionSettings:
        """The connection's settings; without a task context (``dry_run``) a broken one means defaults."""
        try:
            return load_connection_settings(self.kubernetes_conn_id)
        except ConnectionConfigError as exc:
            if strict:
                raise
            self.log.warning("Building the pod with default settings: %s", exc)
            return ConnectionSettings()

    def _passed_or_none(self, name: str) -> Any:
        return getattr(self, name) if self._was_passed(name) else None

    def build_pod_request_obj(self, context: Context | Mapping[str, Any] | None = None) -> Any:
        """The pod for ``context`` as a ``kubernetes.client.V1Pod`` (upstream-compatible name)."""
        return to_model(self.build_pod_manifest(context), "V1Pod")

    def pod_yaml(self, context: Context | Mapping[str, Any] | None = None) -> str:
        """The pod for ``context`` as YAML, fit for showing: secrets masked (see :meth:`dry_run`)."""
        return pod_to_yaml(_redact(self.build_pod_manifest(context)))

    def dry_run(self) -> None:
        """Print the pod this task would create as YAML, without credentials or a cluster.

        Values of environment variables with sensitive names (``*password*``, ``*token*``, ...) and values
        Airflow masks as secrets are replaced by ``***``. There is no task instance, so the pod has no
        identity labels and its name suffix derives from the dag and task ids.
        """
        print(self.pod_yaml())

    # --- running the pod ----------------------------------------------------------------------------------

    def cluster_access(self) -> ClusterAccess:
        """The connection and this operator's overrides, resolved once (see docs/connection.md)."""
        if self._access is None:
            settings = load_connection_settings(self.kubernetes_conn_id)
            self._access = resolve_cluster_access(
                settings,
                in_cluster=self.in_cluster,
                config_file=self.config_file,
                cluster_context=self.cluster_context,
            )
        return self._access

    def lifecycle_settings(self) -> LifecycleSettings:
        """This operator's arguments as the lifecycle's settings (the same for every execution mode)."""
        return LifecycleSettings(
            schedule_timeout=float(self.schedule_timeout_seconds),
            startup_timeout=float(self.startup_timeout_seconds),
            config_error_grace=float(self.CONFIG_ERROR_GRACE_SECONDS),
            get_logs=self.get_logs,
            container_logs=_names_or_all(self._container_logs),
            init_container_logs=_names_or_all(self.init_container_logs),
            log_prefix=self.container_name_log_prefix_enabled,
            log_events=self.log_events_on_startup,
            do_xcom_push=self.do_xcom_push,
            max_xcom_size=int(self.max_xcom_size),
            skip_on_exit_code=tuple(self.skip_on_exit_code),
            on_finish_action=self.on_finish_action,
            termination_grace_period=self.termination_grace_period,
            durable=bool(self.durable),
            drain_timeout=float(self.POST_TERMINATION_TIMEOUT),
        )

    def execute(self, context: Context) -> Any:
        if self.deferrable:
            self.log.warning(
                "deferrable=True is not supported by this version yet; the pod runs with this worker "
                "watching it instead"
            )
        access = self.cluster_access()
        request = self.build_pod_manifest(context, default_namespace=access.namespace)
        if self.callbacks:
            self._callback("on_pod_manifest_created", context, pod_request=to_model(request, "V1Pod"))
        from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook

        hook = AsyncKubernetesHook(self.kubernetes_conn_id, cluster_access=access)
        runner = _LifecycleThread()
        lifecycle = self._lifecycle = PodLifecycle(
            hook,
            self.lifecycle_settings(),
            log=self.log,
            observer=_OperatorObserver(self, context, runner.post),
            log_formatter=self.log_formatter,
        )
        identity = TaskIdentity.from_context(context)
        try:
            result = runner.run(_run_lifecycle(lifecycle, request, identity))
        except BaseException:
            # Interrupted (execution_timeout, kill, crash of the loop): the lifecycle's own cleanup may not
            # have run; make sure the pod does not outlive the task. Never replaces the original error.
            self._delete_if_left(lifecycle)
            raise
        return self._finish(result, context)

    def _finish(self, result: LifecycleResult, context: Context) -> Any:
        verdict = result.verdict
        name = f"{self._pod_ref[1]}/{self._pod_ref[0]}" if self._pod_ref else "the pod"
        value = None if result.xcom is NO_RESULT else result.xcom
        if verdict.outcome is pod_status.Outcome.SUCCESS:
            self.log.info("Pod %s succeeded: %s", name, verdict.summary)
            if result.xcom_error is not None:
                raise result.xcom_error
            pod_xcom.check_multiple_outputs(value, multiple_outputs=self.multiple_outputs)
            return value if self.do_xcom_push else None
        if self.do_xcom_push and result.xcom is not NO_RESULT:
            # As upstream: a failed or skipped task still publishes what its pod returned.
            self._push_result(context, value)
        if verdict.outcome is pod_status.Outcome.SKIP:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"Pod {name}: {verdict.summary}")
        record = verdict.record
        details = record.render() if record is not None else ""
        self.log.error("Pod %s failed: %s\n%s", name, verdict.summary, details)
        if self.log_events_on_failure and self._lifecycle is not None:
            self.log.info("Pod %s's final state:\n%s", name, pod_to_yaml(_redact(dict(result.pod))))
        raise PodFailedError(f"Pod {name} failed: {verdict.summary}\n{details}", record=record)

    def _push_result(self, context: Context, value: Any) -> None:
        ti = context["ti"]
        if self.multiple_outputs and isinstance(value, Mapping):
            for key, item in value.items():
                ti.xcom_push(key=str(key), value=item)
        ti.xcom_push(key="return_value", value=value)

    def _delete_if_left(self, lifecycle: PodLifecycle) -> None:
        if lifecycle.cleaned_up or self._pod_ref is None or self._access is None:
            return
        name, namespace = self._pod_ref
        try:
            from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

            KubernetesHook(self.kubernetes_conn_id, cluster_access=self._access).delete_pod(
                name, namespace, grace_period_seconds=self.termination_grace_period
            )
            lifecycle.cleaned_up = True
            self.log.info("Deleted pod %s/%s: the task ended before the pod did", namespace, name)
        except Exception as exc:
            self.log.error("Could not delete pod %s/%s: %s", namespace, name, exc)

    def on_kill(self) -> None:
        """The task is being killed (marked failed/success by a user, or its worker is stopping).

        Deletes the pod with ``termination_grace_period``, unless ``on_kill_action="keep_pod"``.
        """
        self._killed = True
        if self._pod_ref is None:
            return
        name, namespace = self._pod_ref
        if self.on_kill_action == "keep_pod":
            self.log.info("Task killed; keeping pod %s/%s (on_kill_action=keep_pod)", namespace, name)
            return
        try:
            from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

            deleted = KubernetesHook(
                self.kubernetes_conn_id, cluster_access=self.cluster_access()
            ).delete_pod(name, namespace, grace_period_seconds=self.termination_grace_period)
            if deleted is not None:
                self.log.info("Task killed; deleted pod %s/%s", namespace, name)
            if self._lifecycle is not None:
                self._lifecycle.cleaned_up = True
        except Exception as exc:
            self.log.error("Task killed, but deleting pod %s/%s failed: %s", namespace, name, exc)

    # --- callbacks ----------------------------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> Any:
        """A ``kubernetes.client.CoreV1Api`` for this task's cluster (what callbacks receive)."""
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        api = KubernetesHook(self.kubernetes_conn_id, cluster_access=self.cluster_access()).core_v1_client
        for callback in self.callbacks:
            callback.on_sync_client_creation(client=api, operator=self)
        return api

    def _callback(self, method: str, context: Any, **kwargs: Any) -> None:
        for callback in self.callbacks:
            function = getattr(callback, method, None)
            if function is None:
                continue
            try:
                if method == "progress_callback":
                    function(client=self.client, mode=ExecutionMode.SYNC, **kwargs)
                else:
                    function(
                        client=self.client, mode=ExecutionMode.SYNC, operator=self, context=context, **kwargs
                    )
            except Exception as exc:
                self.log.warning(
                    "Callback %s.%s failed: %s", getattr(callback, "__name__", callback), method, exc
                )


def _names_or_all(value: Any) -> tuple[str, ...] | bool:
    if value is True:
        return True
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


async def _run_lifecycle(
    lifecycle: PodLifecycle, request: dict[str, Any], identity: TaskIdentity
) -> LifecycleResult:
    try:
        return await lifecycle.run(request, identity)
    finally:
        await close_async_clients()


class _LifecycleThread:
    """Runs the lifecycle on its own event loop in a helper thread, while the task's main thread waits.

    The main thread is where Airflow delivers ``execution_timeout`` (SIGALRM raising AirflowTaskTimeout) and
    kills (SIGTERM calling ``on_kill``): there they interrupt a plain wait, never a coroutine of the loop,
    so they cannot be swallowed by an unrelated task. On such an interruption the lifecycle is cancelled and
    given ``cleanup_timeout`` seconds to clean up before the error propagates. Notifications the lifecycle
    posts (XCom pushes, user callbacks) run on the main thread too, as upstream runs them.
    """

    def __init__(self, cleanup_timeout: float = 60.0) -> None:
        self.cleanup_timeout = cleanup_timeout
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def post(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the waiting (main) thread."""
        self._calls.put(call)

    def run(self, coroutine: Coroutine[Any, Any, LifecycleResult]) -> LifecycleResult:
        outcome: concurrent.futures.Future[LifecycleResult] = concurrent.futures.Future()

        async def main() -> LifecycleResult:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            return await coroutine

        def target() -> None:
            try:
                outcome.set_result(asyncio.run(main()))
            except BaseException as exc:
                outcome.set_exception(exc)
            finally:
                self._calls.put(None)

        thread = threading.Thread(target=target, name="k8spod-lifecycle", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    call = self._calls.get(timeout=0.5)
                except queue.Empty:
                    continue
                if call is None:
                    break
                call()
        except BaseException:
            self.cancel()
            thread.join(self.cleanup_timeout)
            raise
        return outcome.result()

    def cancel(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)


class _OperatorObserver:
    """Turns lifecycle notifications into XComs (pod_name, pod_namespace) and upstream-style callbacks,
    run on the task's main thread through ``post``."""

    def __init__(
        self, operator: KubernetesPodOperator, context: Any, post: Callable[[Callable[[], None]], None]
    ) -> None:
        self.operator = operator
        self.context = context
        self.post = post
        self._model_cache: tuple[str, Any] | None = None

    def _model(self, pod: Mapping[str, Any] | None) -> Any:
        if pod is None:
            return None
        version = str((pod.get("metadata") or {}).get("resourceVersion"))
        if self._model_cache is None or self._model_cache[0] != version:
            self._model_cache = (version, to_model(dict(pod), "V1Pod"))
        return self._model_cache[1]

    def _callback(self, method: str, pod: Mapping[str, Any] | None, **kwargs: Any) -> None:
        if self.operator.callbacks:
            snapshot = dict(pod) if pod is not None else None
            self.post(
                lambda: self.operator._callback(method, self.context, pod=self._model(snapshot), **kwargs)
            )

    def pod_created(self, pod: Mapping[str, Any], *, adopted: bool) -> None:
        meta = pod.get("metadata") or {}
        name, namespace = str(meta["name"]), str(meta.get("namespace") or "default")
        self.operator._pod_ref = (name, namespace)

        def push() -> None:
            ti = self.context["ti"]
            ti.xcom_push(key="pod_name", value=name)
            ti.xcom_push(key="pod_namespace", value=namespace)

        self.post(push)
        self._callback("on_pod_creation", pod)

    def pod_started(self, pod: Mapping[str, Any]) -> None:
        self._callback("on_pod_starting", pod)

    def pod_completed(self, pod: Mapping[str, Any]) -> None:
        self._callback("on_pod_completion", pod)
        self._callback("on_pod_teardown", pod)

    def log_line(self, container: str, line: LogLine, pod: Mapping[str, Any] | None) -> None:
        if self.operator.callbacks:
            self._callback(
                "progress_callback",
                pod,
                line=line.text,
                container_name=container,
                timestamp=line.raw_timestamp or None,
            )

    def pod_cleaned_up(self, pod: Mapping[str, Any] | None, *, deleted: bool) -> None:
        self._callback("on_pod_cleanup", pod)


def _deprecation_warning() -> type[Warning]:
    try:
        from airflow.exceptions import AirflowProviderDeprecationWarning

        return AirflowProviderDeprecationWarning
    except ImportError:  # pragma: no cover
        return DeprecationWarning


def _airflow_version_label() -> str:
    try:
        from airflow import __version__ as version
    except ImportError:  # pragma: no cover
        version = "unknown"
    return safe_label_value(str(version).replace("+", "-"))


def _apply_pod_mutation_hook(pod: dict[str, Any]) -> dict[str, Any]:
    """Let the cluster policy ``pod_mutation_hook`` (``airflow_local_settings``) change the pod, as upstream."""
    try:
        from airflow.settings import pod_mutation_hook
    except ImportError:  # pragma: no cover - no Airflow core on this worker
        return pod
    if not _has_custom_pod_mutation_hook():
        return pod
    model = to_model(pod, "V1Pod")
    pod_mutation_hook(model)
    mutated: dict[str, Any] = to_api(model, "V1Pod", "pod_mutation_hook result")
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


def _redact(pod: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``pod`` fit for printing: sensitive env values and registered secrets masked.

    Only values are masked: an env var whose name looks sensitive (``DB_PASSWORD``), and any string that
    contains a value registered with Airflow's secrets masker. Field names such as ``secretKeyRef`` do not
    hide what is below them (a Secret's name is no secret), unlike a plain ``redact()`` of the whole pod.
    """
    try:
        from airflow.sdk._shared.secrets_masker import redact, should_hide_value_for_key
    except ImportError:  # pragma: no cover
        return pod

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return redact(value)
        return value

    shown: dict[str, Any] = walk(pod)
    spec = shown.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            for env in container.get("env") or []:
                if "value" in env and should_hide_value_for_key(env.get("name", "")):
                    env["value"] = "***"
    return shown
