"""``@task.kubernetes_cmd``: the decorated function runs on the worker and returns the pod's command.

The function is called with its arguments (templated, XComArgs resolved) and the task's context keys it
asks for; it must return a non-empty list of strings. That list becomes the main container's command, or,
with ``args_only=True``, its arguments (the image's entrypoint stays). Jinja in the returned strings is
rendered. The pod is then run by :class:`~airflow_provider_k8spod.operators.pod.KubernetesPodOperator`
(both modes). See docs/decorators.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions.context import context_merge

from airflow_provider_k8spod.decorators.kubernetes import default_pod_name
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["kubernetes_cmd_task"]


def check_command(value: Any, function: str) -> list[str]:
    """``value`` if it is a non-empty list of strings; else a TypeError/ValueError saying what it is."""
    if not isinstance(value, list):
        raise TypeError(
            f"@task.kubernetes_cmd: {function} must return a list of strings (the container's command), got "
            f"{type(value).__name__} {value!r}"
        )
    wrong = [item for item in value if not isinstance(item, str)]
    if wrong:
        raise TypeError(
            f"@task.kubernetes_cmd: {function} must return a list of strings, but it holds "
            f"{type(wrong[0]).__name__} {wrong[0]!r}: {value!r}"
        )
    if not value:
        raise ValueError(f"@task.kubernetes_cmd: {function} returned an empty list of commands")
    return value


class _KubernetesCmdDecoratedOperator(DecoratedOperator, KubernetesPodOperator):
    custom_operator_name = "@task.kubernetes_cmd"

    template_fields: Sequence[str] = ("op_args", "op_kwargs", *KubernetesPodOperator.template_fields)
    template_fields_renderers = {
        **DecoratedOperator.template_fields_renderers,
        **KubernetesPodOperator.template_fields_renderers,
    }
    shallow_copy_attrs: Sequence[str] = ("python_callable",)
    # The command is known only once the function ran: show it in the rendered template fields.
    overwrite_rtif_after_execution: bool = True

    def __init__(
        self, *, python_callable: Callable[..., Any], args_only: bool = False, **kwargs: Any
    ) -> None:
        for name in ("cmds", "arguments"):
            if kwargs.get(name):
                raise TypeError(
                    f"{self.custom_operator_name}: {name} cannot be set; the decorated function returns the "
                    "command (or, with args_only=True, the arguments of the image's entrypoint)"
                )
            kwargs.pop(name, None)
        self.args_only = args_only
        kwargs.setdefault("name", default_pod_name(python_callable))
        super().__init__(python_callable=python_callable, **kwargs)

    def execute(self, context: Context) -> Any:
        self._set_command(context)
        return super().execute(context)

    def _pod_request(self, context: Context, access: Any) -> dict[str, Any]:
        # After a deferral, upstream's pod_request_obj is rebuilt on first read: with the command again.
        if not self.cmds and not self.arguments:
            self._set_command(context)
        request: dict[str, Any] = super()._pod_request(context, access)
        return request

    def _set_command(self, context: Context) -> None:
        context_merge(context, self.op_kwargs)
        kwargs = self.determine_kwargs(context)
        generated = check_command(
            self.python_callable(*self.op_args, **kwargs), self.python_callable.__name__
        )
        rendered = self.render_template(generated, context)
        if self.args_only:
            self.cmds, self.arguments = [], rendered
        else:
            self.cmds, self.arguments = rendered, []


def kubernetes_cmd_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """Run the command the decorated function returns in a Kubernetes pod.

    The function runs on the worker and returns a list of strings: the container's command, or with
    ``args_only=True`` the arguments of the image's entrypoint. Accepts every argument of
    :class:`~airflow_provider_k8spod.operators.pod.KubernetesPodOperator` except ``cmds`` and
    ``arguments``.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_KubernetesCmdDecoratedOperator,
        **kwargs,
    )
