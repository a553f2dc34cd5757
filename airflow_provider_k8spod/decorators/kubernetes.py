"""``@task.kubernetes``: run a Python function in a Kubernetes pod (see docs/decorators.md).

The pod is the one :class:`~airflow_provider_k8spod.operators.pod.KubernetesPodOperator` builds from the
decorator's arguments (both modes, the one lifecycle); its main container runs ``python`` with the
function's source and pickled arguments (:mod:`._payload`), and the return value comes back as the XCom
result file ``/airflow/xcom/return.json`` when ``do_xcom_push=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from airflow_provider_k8spod.decorators._payload import (
    DecoratedFunctionError,
    function_source,
    launcher_command,
    payload_env,
)
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

if TYPE_CHECKING:
    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["DecoratedFunctionError", "kubernetes_task"]


def default_pod_name(python_callable: Callable[..., Any]) -> str:
    """Upstream's pod name for a decorated function: ``k8s-airflow-pod-<function name>``."""
    return f"k8s-airflow-pod-{getattr(python_callable, '__name__', 'task')}"


class _KubernetesDecoratedOperator(DecoratedOperator, KubernetesPodOperator):
    custom_operator_name = "@task.kubernetes"

    # The command is the launcher's: cmds and arguments are not templated (nor accepted).
    template_fields: Sequence[str] = (
        "op_args",
        "op_kwargs",
        *(f for f in KubernetesPodOperator.template_fields if f not in ("cmds", "arguments")),
    )
    template_fields_renderers = {
        **DecoratedOperator.template_fields_renderers,
        **KubernetesPodOperator.template_fields_renderers,
    }
    shallow_copy_attrs: Sequence[str] = ("python_callable",)

    def __init__(self, *, python_callable: Callable[..., Any], use_dill: bool = False, **kwargs: Any) -> None:
        for name in ("cmds", "arguments"):
            if kwargs.get(name):
                raise TypeError(
                    f"{self.custom_operator_name} runs the decorated function as the container's command; "
                    f"{name} cannot be set (pass values as the function's arguments, or use "
                    "@task.kubernetes_cmd to return a command)"
                )
            kwargs.pop(name, None)
        self._source = function_source(python_callable, self.custom_operator_name)
        self.use_dill = use_dill
        if use_dill:
            try:
                import dill  # noqa: F401
            except ImportError as exc:
                raise TypeError(
                    "use_dill=True needs the dill package on the worker (pip install dill)"
                ) from exc
        kwargs.setdefault("name", default_pod_name(python_callable))
        super().__init__(python_callable=python_callable, **kwargs)

    def pod_arguments(self) -> dict[str, Any]:
        """The operator's pod arguments, with the launcher as the command and the payload as env vars."""
        arguments = super().pod_arguments()
        filename, source = self._source
        function = self.python_callable.__name__
        env = arguments.get("env_vars") or []
        if isinstance(env, Mapping):
            env = [{"name": k, "value": v} if v is not None else {"name": k} for k, v in env.items()]
        payload = payload_env(source, self.op_args, self.op_kwargs, use_dill=self.use_dill, function=function)
        arguments["env_vars"] = [*env, *payload]
        arguments["cmds"] = launcher_command(
            filename, function, use_dill=self.use_dill, do_xcom_push=bool(self.do_xcom_push)
        )
        arguments["arguments"] = []
        return arguments


def kubernetes_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Run the decorated function in a Kubernetes pod.

    Accepts every argument of :class:`~airflow_provider_k8spod.operators.pod.KubernetesPodOperator`
    except ``cmds`` and ``arguments``, plus ``use_dill`` (serialize the arguments with dill instead of
    pickle; the image then needs dill). The image needs ``python``. The function's arguments are pickled
    into the pod; with ``do_xcom_push=True`` its return value (JSON) is the task's XCom, unrolled with
    ``multiple_outputs=True``.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_KubernetesDecoratedOperator,
        **kwargs,
    )
