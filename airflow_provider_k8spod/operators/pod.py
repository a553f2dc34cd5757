"""``KubernetesPodOperator``: run one Airflow task as one Kubernetes pod.

This module holds the constructor: every argument of upstream ``cncf-kubernetes``' operator, with the same
names and defaults, checked when the DAG is parsed. The rest lives beside it, as mixins and helpers:

- :mod:`._building`: templating (upstream's 22 template fields plus rendering inside Kubernetes models) and
  building the pod (``build_pod_manifest``, ``build_pod_request_obj``, ``dry_run``) with the pure
  :func:`airflow_provider_k8spod.pod.spec.build_pod`; see docs/pod-spec.md.
- :mod:`._running`: ``execute`` in both modes, ``trigger_reentry``, ``on_kill``, callbacks; the lifecycle
  itself is :mod:`airflow_provider_k8spod.pod.lifecycle`.
- :mod:`._arguments`: which arguments the user passed (explicit keyword arguments, ``default_args``,
  ``partial`` and ``expand`` values alike): only those change the pod built from a manifest.
- :mod:`._driver` (the worker's loop thread, callbacks) and :mod:`._airflow` (Airflow glue).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_k8spod.exceptions import (
    FoundMoreThanOnePodFailure,
    PodCredentialsExpiredFailure,
    PodLaunchFailedException,
    PodNotFoundException,
    PodReattachFailure,
    PodSpecError,
)
from airflow_provider_k8spod.hooks.access import ClusterAccess
from airflow_provider_k8spod.operators._airflow import (
    default_deferrable,
    deprecation_warning,
)
from airflow_provider_k8spod.operators._arguments import record_passed_arguments, warn_without_effect
from airflow_provider_k8spod.operators._building import PodBuilding
from airflow_provider_k8spod.operators._running import PodRunning
from airflow_provider_k8spod.operators._upstream import UpstreamSurface
from airflow_provider_k8spod.pod.arguments import (
    ACTIVE_DEADLINE_MARGIN_SECONDS,
    check_recreate_attempts,
    check_startup_timeouts,
    skip_exit_codes,
)
from airflow_provider_k8spod.pod.lifecycle import PodLifecycle
from airflow_provider_k8spod.pod.spec import (
    DEFAULT_BASE_CONTAINER_NAME,
)
from airflow_provider_k8spod.pod.xcom import DEFAULT_MAX_XCOM_SIZE, resolve_xcom_transport

if TYPE_CHECKING:
    pass

# Upstream's operator module defines or imports these; code that imports them from there keeps working.
__all__ = [
    "FoundMoreThanOnePodFailure",
    "KubernetesPodOperator",
    "PodCredentialsExpiredFailure",
    "PodLaunchFailedException",
    "PodNotFoundException",
    "PodReattachFailure",
]

#: Where a pod's service account namespace is mounted when Airflow itself runs in a pod.
IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

_ON_FINISH_ACTIONS = ("delete_pod", "delete_succeeded_pod", "delete_active_pod", "keep_pod")
_ON_KILL_ACTIONS = ("delete_pod", "keep_pod")


class KubernetesPodOperator(PodRunning, UpstreamSurface, PodBuilding, BaseOperator):
    """Run a task in a Kubernetes pod; a drop-in for upstream ``cncf-kubernetes``' operator.

    Every argument of upstream's operator is accepted with the same name and default. The pod is built
    from a manifest (``pod_template_file``, ``pod_template_dict``, ``full_pod_spec``) and/or the arguments,
    following one rule: the manifest first, then each argument you passed overrides (see
    docs/pod-spec.md). Kubernetes objects may be ``kubernetes.client`` models or dicts (camelCase or
    snake_case).

    Beyond upstream: ``xcom_sidecar_container_image`` and ``xcom_sidecar_container_resources`` (operator
    level overrides of the connection extras of the same name), ``max_xcom_size``, ``pod_report`` (log
    where the pod ran, what it ran and what it reserved at the end of the task; docs/operator.md), and
    ``xcom_transport`` (how the result comes back: ``sidecar``, ``termination_message`` or ``logs``;
    docs/operator.md, "XCom transports"), and ``pod_recreate_attempts`` (a pod lost to the infrastructure
    is created again for the same try, up to that many times; docs/operator.md, "Infrastructure failures").
    """

    BASE_CONTAINER_NAME = DEFAULT_BASE_CONTAINER_NAME
    ISTIO_CONTAINER_NAME = "istio-proxy"
    POD_CHECKED_KEY = "already_checked"
    #: Seconds a container's log stream may take to end after the container terminated.
    POST_TERMINATION_TIMEOUT = 30
    #: Seconds a CreateContainerConfigError (a missing ConfigMap or Secret) may last before the start fails.
    CONFIG_ERROR_GRACE_SECONDS = 30
    #: Seconds added to ``execution_timeout`` for the pod's ``activeDeadlineSeconds`` when
    #: ``active_deadline_seconds`` is not set (docs/operator.md, "A deadline Kubernetes enforces").
    ACTIVE_DEADLINE_MARGIN_SECONDS: float = ACTIVE_DEADLINE_MARGIN_SECONDS

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

    @record_passed_arguments
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
        pod_report: bool = True,
        xcom_transport: str | None = None,
        pod_recreate_attempts: int = 0,
        **kwargs: Any,
    ) -> None:
        if deferrable is None:
            deferrable = default_deferrable()
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
                deprecation_warning(),
                stacklevel=2,
            )
        if reattach_on_restart is not None:
            warnings.warn(
                "reattach_on_restart is deprecated; use durable",
                deprecation_warning(),
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
        warn_without_effect(
            base_container_status_polling_interval=(base_container_status_polling_interval, 1),
            logging_interval=(logging_interval, None),
            trigger_kwargs=(trigger_kwargs, None),
            progress_callback=(progress_callback, None),
        )
        # Callbacks
        if callbacks is None:
            self.callbacks: list[Any] = []
        elif isinstance(callbacks, (list, tuple)):
            self.callbacks = list(callbacks)
        else:
            self.callbacks = [callbacks]
        self._progress_callback = progress_callback
        self.max_xcom_size = max_xcom_size
        if not isinstance(pod_report, bool):
            raise TypeError(f"pod_report must be True or False, not {pod_report!r}")
        self.pod_report = pod_report
        resolve_xcom_transport(xcom_transport, None)  # a clear error for an unknown value, at parse time
        #: ``sidecar``, ``termination_message`` or ``logs``; None: the connection extra, else ``sidecar``.
        self.xcom_transport = xcom_transport
        #: How many times a pod lost to the infrastructure is created again for the same try (not templated).
        self.pod_recreate_attempts = check_recreate_attempts(pod_recreate_attempts)
        # Set while the task runs: what on_kill needs (no connection lookups in a signal handler).
        self._access: ClusterAccess | None = None
        self._pod_ref: tuple[str, str] | None = None
        self._lifecycle: PodLifecycle | None = None
        self._killed = False
        # Upstream's attributes, set while the task runs (see docs/migrating.md, "Operator attributes and methods").
        self.pod_request_obj = None
        self.pod = None
        self.remote_pod = None
        self._adopted = False

    # -----------------------------------------------------------------------------------------------------

    @property
    def container_logs(self) -> Iterable[str] | str | bool:
        """Containers whose logs are followed: the argument, else the (rendered) base container name."""
        return self._container_logs or self.base_container_name

    @container_logs.setter
    def container_logs(self, value: Iterable[str] | str | bool | None) -> None:
        self._container_logs = value

    def _default_namespace(self, connection_namespace: str | None) -> str:
        if connection_namespace:
            return connection_namespace
        try:
            with open(IN_CLUSTER_NAMESPACE_FILE, encoding="utf-8") as handle:
                found = handle.read().strip()
        except OSError:
            found = ""
        return found or "default"
