"""Templating and building the operator's pod (a mixin of the operator).

Rendering reaches inside ``kubernetes.client`` models and renders the names of an ``env_vars`` dict; the pod
itself is built by the pure :func:`airflow_provider_k8spod.pod.spec.build_pod` from the arguments the user
passed (see :mod:`._arguments`), then the cluster policy ``pod_mutation_hook`` runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.exceptions import ConnectionConfigError, PodSpecError
from airflow_provider_k8spod.hooks.access import ClusterAccess, running_in_cluster
from airflow_provider_k8spod.hooks.connection import ConnectionSettings, load_connection_settings
from airflow_provider_k8spod.operators._airflow import airflow_version_label, apply_pod_mutation_hook, redact
from airflow_provider_k8spod.operators._arguments import SIDECAR_ARGUMENTS
from airflow_provider_k8spod.pod.arguments import derived_active_deadline
from airflow_provider_k8spod.pod.identity import ACTIVE_DEADLINE_SOURCE_ANNOTATION, TaskIdentity
from airflow_provider_k8spod.pod.normalize import is_model, to_model
from airflow_provider_k8spod.pod.spec import POD_ARGUMENTS, build_pod, pod_to_yaml
from airflow_provider_k8spod.pod.xcom import resolve_xcom_transport, sidecar_settings

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import BaseOperator, Context

    _Base = BaseOperator
else:
    _Base = object

__all__ = ["PodBuilding"]


class PodBuilding(_Base):
    """The operator's templating, ``build_pod_manifest``, ``build_pod_request_obj`` and ``dry_run``."""

    # The operator's own arguments and constants.
    env_vars: Any
    kubernetes_conn_id: str | None
    BASE_CONTAINER_NAME: str
    ACTIVE_DEADLINE_MARGIN_SECONDS: float

    @property
    def passed_arguments(self) -> frozenset[str]:
        """Names of the constructor arguments that were passed with a value (not None)."""
        return frozenset(getattr(self, "_k8spod_passed", frozenset()))

    def _default_namespace(self, connection_namespace: str | None) -> str:
        raise NotImplementedError  # the operator's (where tests can point it at another file)

    def cluster_access(self) -> ClusterAccess:
        raise NotImplementedError  # the operator's (PodRunning)

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
        transport = self.effective_xcom_transport(settings) if self.do_xcom_push else None
        sidecar = None
        if transport == "sidecar":
            sidecar = sidecar_settings(
                image=self._passed_or_none("xcom_sidecar_container_image"),
                resources=self._passed_or_none("xcom_sidecar_container_resources"),
                security_context=self._passed_or_none("xcom_sidecar_container_security_context"),
                connection_image=settings.xcom_sidecar_container_image,
                connection_resources=settings.xcom_sidecar_container_resources,
                connection_security_context=settings.xcom_sidecar_container_security_context,
            )
        elif transport is not None:
            passed = [name for name in SIDECAR_ARGUMENTS if name in self.passed_arguments]
            if passed:
                raise PodSpecError(
                    f"{', '.join(passed)}: there is no XCom sidecar with xcom_transport={transport!r}; "
                    "remove the argument or use xcom_transport='sidecar'"
                )
        deadline = derived_active_deadline(
            getattr(self, "execution_timeout", None), self.ACTIVE_DEADLINE_MARGIN_SECONDS
        )
        pod = build_pod(
            self.pod_arguments(),
            task_id=self.task_id,
            dag_id=self.dag_id if self.has_dag() else None,
            identity=identity,
            default_namespace=self._default_namespace(default_namespace or settings.namespace),
            xcom_sidecar=sidecar,
            xcom_transport=transport if transport != "sidecar" else None,
            extra_labels=self._extra_labels(in_cluster=None if context is None else self._in_cluster()),
            default_base_container_name=self.BASE_CONTAINER_NAME,
            allow_templates=context is None,
            derived_active_deadline_seconds=deadline,
        )
        pod = apply_pod_mutation_hook(pod)
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if (
            ACTIVE_DEADLINE_SOURCE_ANNOTATION in annotations
            and (pod.get("spec") or {}).get("activeDeadlineSeconds") != deadline
        ):
            annotations.pop(ACTIVE_DEADLINE_SOURCE_ANNOTATION)  # the cluster policy changed the deadline
        return pod

    @staticmethod
    def _extra_labels(*, in_cluster: bool | None) -> dict[str, str]:
        """Upstream's labels beyond the task instance's: ``airflow_version`` and, for a task (not
        ``dry_run``), ``airflow_kpo_in_cluster``."""
        labels = {"airflow_version": airflow_version_label()}
        if in_cluster is not None:
            labels["airflow_kpo_in_cluster"] = str(in_cluster)
        return labels

    def _in_cluster(self) -> bool:
        """Whether the pod is created with the in-cluster service account (the ``airflow_kpo_in_cluster``
        label). The cluster access the task resolves; when it cannot be resolved (a pod built outside a
        task), whether this process runs in a pod."""
        try:
            access = self.cluster_access()
        except ConnectionConfigError:
            return running_in_cluster()
        return bool(access.in_cluster)

    def _connection_settings(self, *, strict: bool) -> ConnectionSettings:
        """The connection's settings; without a task context (``dry_run``) a broken one means defaults."""
        try:
            return load_connection_settings(self.kubernetes_conn_id)
        except ConnectionConfigError as exc:
            if strict:
                raise
            self.log.warning("Building the pod with default settings: %s", exc)
            return ConnectionSettings()

    def effective_xcom_transport(self, settings: ConnectionSettings | None = None) -> str:
        """How the XCom result comes back: the ``xcom_transport`` argument, else the connection extra of
        that name, else ``sidecar``."""
        if settings is None:
            settings = self._connection_settings(strict=False)
        return resolve_xcom_transport(getattr(self, "xcom_transport", None), settings.xcom_transport)

    def _passed_or_none(self, name: str) -> Any:
        return getattr(self, name) if self._was_passed(name) else None

    def build_pod_request_obj(self, context: Context | Mapping[str, Any] | None = None) -> Any:
        """The pod for ``context`` as a ``kubernetes.client.V1Pod`` (upstream-compatible name).

        While the task runs, the namespace defaults as in ``execute`` (the connection's, else its kubeconfig
        context's); a subclass may override this method: ``execute`` then creates the pod it returns."""
        access = getattr(self, "_access", None)
        namespace = access.namespace if access is not None else None
        return to_model(self.build_pod_manifest(context, default_namespace=namespace), "V1Pod")

    def pod_yaml(self, context: Context | Mapping[str, Any] | None = None) -> str:
        """The pod for ``context`` as YAML, fit for showing: secrets masked (see :meth:`dry_run`)."""
        return pod_to_yaml(redact(self.build_pod_manifest(context)))

    def dry_run(self) -> None:
        """Print the pod this task would create as YAML, without credentials or a cluster.

        Values of environment variables with sensitive names (``*password*``, ``*token*``, ...) and values
        Airflow masks as secrets are replaced by ``***``. There is no task instance, so the pod has no
        identity labels and its name suffix derives from the dag and task ids.
        """
        print(self.pod_yaml())
